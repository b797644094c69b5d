"""Flush copies (curation.dedupe.flush): a picture with a caption strip or a border added along
one side is found at the one place its size leaves, and look-alikes on the same ground are not."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_align import thumb
from test_keypoints import LIMITS, grey, points

from curation.dedupe.flush import FlushLimits, files_agree, flush_copy, flush_placements, inside_copy
from curation.dedupe.keypoints import Match, check_pair
from curation.dedupe.reread import GreyFile
from curation.images.hashing import WHITE
from curation.images.keypoints import KEYPOINT_SIDE

FLUSH = FlushLimits()
PINK = (214, 142, 178)


def jpeg(img: Image.Image, quality: int = 90) -> Image.Image:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def arrow(img: Image.Image, x: int, y: int, colour=(250, 230, 90)) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    d.polygon(
        [(x, y), (x + 8, y), (x + 8, y + 12), (x + 14, y + 12), (x + 4, y + 22), (x - 6, y + 12), (x, y + 12)], outline=colour
    )
    return out


def grid(size=(333, 333), cell=27) -> Image.Image:
    img = Image.new("RGB", size, (214, 222, 196))
    d = ImageDraw.Draw(img)
    for k in range(0, max(size), cell):
        d.line([(k, 0), (k, size[1])], fill=(150, 170, 160))
        d.line([(0, k), (size[0], k)], fill=(150, 170, 160))
    d.polygon([(30, 100), (60, 110), (52, 124), (40, 112)], fill=(230, 130, 80), outline=(20, 20, 20))
    return img


def captioned(img: Image.Image, strip: int, top: bool) -> Image.Image:
    """``img`` with a white strip of text added above or below, as boards caption reposts."""
    out = Image.new("RGB", (img.width, img.height + strip), (255, 255, 255))
    out.paste(img, (0, strip if top else 0))
    ImageDraw.Draw(out).text((10, (0 if top else img.height) + strip // 4), "when the repost hits", fill=(0, 0, 0))
    return out


def flush(a: Image.Image, b: Image.Image, limits: FlushLimits = FLUSH):
    return flush_copy(thumb(a), thumb(b), GreyFile(a.copy, WHITE).native, GreyFile(b.copy, WHITE).native, limits)


def test_a_plain_canvas_with_one_small_shape_is_found_under_its_caption_and_nowhere_else():
    original = arrow(Image.new("RGB", (256, 256), PINK), 190, 40)
    copy = jpeg(captioned(original, 40, top=True))
    found = flush(jpeg(original), copy)
    assert found is not None and found.inner_first
    assert found.transform[1, 2] == pytest.approx(40 * 256 / 296)  # placed below the strip, in the copy's frame
    assert found.correlation > 0.95
    assert flush(copy, jpeg(original)).inner_first is False  # either order
    # the same ground and strip, the arrow elsewhere or another colour: another picture
    assert flush(jpeg(arrow(Image.new("RGB", (256, 256), PINK), 120, 150)), copy) is None
    assert flush(jpeg(arrow(Image.new("RGB", (256, 256), PINK), 190, 40, (40, 60, 200))), copy) is None
    # a plain canvas tells nothing, however well it agrees
    assert flush(Image.new("RGB", (256, 256), PINK), captioned(Image.new("RGB", (256, 256), PINK), 40, top=True)) is None


def test_a_captioned_grid_is_placed_exactly_where_the_keypoints_fit_a_cell_off():
    original = jpeg(grid())
    copy = jpeg(captioned(grid(), 43, top=False))
    found = check_pair(points(copy), points(original), thumb(copy), thumb(original), grey(copy), grey(original), LIMITS)
    assert isinstance(found, Match) and found.relation == "cropped"
    other = grid()
    ImageDraw.Draw(other).ellipse([200, 200, 240, 230], fill=(90, 90, 200))  # one shape more
    assert flush(jpeg(other), copy) is None
    assert flush(original, copy) is not None


def test_a_border_on_one_side_and_large_files_compared_reduced():
    original = grid((1200, 900), cell=40)
    bordered = Image.new("RGB", (1500, 900), (30, 30, 30))
    bordered.paste(original, (300, 0))
    found = flush(jpeg(original), jpeg(bordered))
    assert found is not None and found.transform[0, 2] == pytest.approx(300 * 256 / 1500)
    assert flush_placements(thumb(original), thumb(bordered), FLUSH) == [(0, 0), (0, 300)]
    # under half of the side is no copy with a strip added, and a resized copy is not flush
    assert flush_placements(thumb(original.crop((0, 0, 600, 900))), thumb(bordered), FLUSH) == []
    assert flush(original.resize((1200, 800)), bordered) is None


def test_the_native_comparison_counts_differing_shapes_not_only_pixels():
    rng = np.random.default_rng(3)
    ground = np.full((200, 300), 120.0, np.float32)
    ground[50:60, 40:200] = 20.0  # a bar: its edges are the shape pixels
    noisy = ground + rng.normal(0, 2.0, ground.shape).astype(np.float32)  # re-encoding noise
    outer = np.vstack([np.full((30, 300), 255.0, np.float32), noisy, np.full((1, 300), 120.0, np.float32)])
    assert files_agree(ground, outer, 30, 0, FLUSH) is not None
    moved = np.full((200, 300), 120.0, np.float32)
    moved[52:62, 40:200] = 20.0  # the same bar two pixels lower: few pixels, most of its edges
    assert files_agree(moved, outer, 30, 0, FLUSH) is None
    assert files_agree(ground, outer, 31, 0, replace(FLUSH, max_shape_differ=1.0, max_differ=1.0)) is not None
    assert files_agree(ground, outer, 31, 0, FLUSH) is None  # a pixel off is not the same place
    assert files_agree(ground, outer, 32, 0, FLUSH) is None  # nor past the edge


def test_a_file_that_no_longer_reads_is_no_flush_copy():
    original = arrow(Image.new("RGB", (256, 256), PINK), 190, 40)
    copy = captioned(original, 40, top=True)
    assert (
        flush_copy(thumb(original), thumb(copy), GreyFile.at(None, WHITE).native, GreyFile(copy.copy, WHITE).native, FLUSH)
        is None
    )


def grainy(seed: int, glyph_at: tuple[int, int]) -> Image.Image:
    """A near-white grainy ground with two small outlined glyphs: nearly nothing but where they are."""
    rng = np.random.default_rng(seed)
    ground = np.clip(245 + rng.normal(0, 4, (187, 333, 1)), 0, 255).repeat(3, axis=2).astype(np.uint8)
    img = Image.fromarray(ground)
    d = ImageDraw.Draw(img)
    x, y = glyph_at
    d.polygon([(x, y + 8), (x + 12, y), (x + 24, y + 8), (x + 12, y + 16)], outline=(200, 130, 60), width=2)
    d.ellipse([x + 40, y + 10, x + 58, y + 28], outline=(120, 110, 40), width=2)
    return img


def test_a_grainy_picture_saved_again_at_quality_10_is_found_in_place_and_a_moved_glyph_is_not():
    original = jpeg(grainy(5, (150, 30)), quality=95)
    copy = jpeg(original, quality=10)  # every 8 x 8 block off by more than the grain's spread
    found = flush(copy, original)
    assert found is not None and np.allclose(found.transform, [[1, 0, 0], [0, 1, 0]])
    assert flush_placements(thumb(copy), thumb(original), FLUSH) == [(0, 0)]
    moved = jpeg(grainy(5, (156, 30)), quality=95)  # the same grain, the glyphs six pixels right
    assert flush(jpeg(moved, quality=10), original) is None
    other = grainy(5, (150, 30))
    ImageDraw.Draw(other).rectangle([190, 40, 208, 58], outline=(120, 110, 40), width=2)  # a square beside the ring
    assert flush(jpeg(other, quality=10), original) is None


def test_two_grounds_of_noise_with_a_different_small_glyph_each_are_not_one_picture():
    rng = np.random.default_rng(8)
    grounds = [np.clip(128 + rng.normal(0, 9, (192, 256, 1)), 0, 255).repeat(3, axis=2).astype(np.uint8) for _ in range(2)]
    one, two = (Image.fromarray(g) for g in grounds)
    ImageDraw.Draw(one).polygon([(60, 40), (76, 44), (66, 56)], outline=(130, 60, 200), width=2)
    ImageDraw.Draw(two).ellipse([170, 90, 180, 98], fill=(240, 140, 40))
    shorter = jpeg(two.crop((0, 0, 256, 144)))
    assert flush(shorter, jpeg(one), replace(FLUSH, min_correlation=-1.0)) is not None  # within 12 levels nearly everywhere
    assert flush(shorter, jpeg(one)) is None  # but the two grounds do not correlate
    assert flush(shorter, jpeg(two)) is not None


def noisy_canvas(seed: int, ring_at: tuple[int, int] = (90, 300)) -> Image.Image:
    """A mid-grey canvas of strong grain with a ring low down and a small outline at the right
    edge: cut down to its middle, it keeps grain and nothing the thumbnails or ORB can hold."""
    rng = np.random.default_rng(seed)
    ground = np.clip(128 + rng.normal(0, 20, (333, 222, 1)), 0, 255).repeat(3, axis=2).astype(np.uint8)
    img = Image.fromarray(ground)
    d = ImageDraw.Draw(img)
    x, y = ring_at
    d.ellipse([x, y - 12, x + 24, y + 12], fill=(250, 250, 245), outline=(130, 40, 40), width=4)
    d.polygon([(196, 280), (214, 296), (200, 312)], outline=(60, 150, 70), width=2)
    return img


def middle(img: Image.Image, share: float = 0.6) -> Image.Image:
    """The middle ``share`` of each side, as boards' heavy crops cut it (and the synth's)."""
    w, h = round(img.width * share), round(img.height * share)
    left, top = (img.width - w) // 2, (img.height - h) // 2
    return img.crop((left, top, left + w, top + h))


def checked(a: Image.Image, b: Image.Image, limits=LIMITS):
    return check_pair(points(a), points(b), thumb(a), thumb(b), grey(a), grey(b), limits)


def test_a_heavy_crop_of_a_noisy_canvas_is_found_by_its_native_pixels():
    original = jpeg(noisy_canvas(3))
    copy = jpeg(middle(original))
    off = replace(LIMITS, flush=replace(FLUSH, min_inside_area=2.0))  # no region is that large: never slid
    assert not isinstance(checked(copy, original, off), Match)  # keypoints, thumbnails, flush: none holds it
    found = checked(copy, original)
    assert isinstance(found, Match) and found.relation == "derivative"
    inside = inside_copy(thumb(copy), thumb(original), grey(copy).native, grey(original).native, FLUSH)
    assert inside is not None and inside.inner_first
    to_outer = KEYPOINT_SIDE / 333
    assert np.allclose(inside.transform[:, 2], [44 * to_outer, 66 * to_outer])  # where it was cut: (44, 66)
    assert inside_copy(thumb(original), thumb(copy), grey(original).native, grey(copy).native, FLUSH).inner_first is False


def test_a_region_of_other_grain_or_with_a_shape_changed_is_not_cut_from_a_noisy_canvas():
    original = jpeg(noisy_canvas(3))
    other_grain = jpeg(middle(noisy_canvas(4)))  # the same shapes in the same places, other grain
    assert not isinstance(checked(other_grain, original), Match)
    drawn_on = middle(noisy_canvas(3))
    ImageDraw.Draw(drawn_on).polygon([(40, 60), (58, 52), (54, 74)], outline=(200, 200, 60), width=2)  # a shape added
    assert not isinstance(checked(jpeg(drawn_on), original), Match)
    assert inside_copy(thumb(jpeg(drawn_on)), thumb(original), grey(drawn_on).native, grey(original).native, FLUSH) is None


def test_only_opaque_regions_of_a_fitting_size_are_slid():
    original = noisy_canvas(3)
    region = middle(original)
    reads = []

    def reader(img):
        def read():
            reads.append(img.size)
            return GreyFile(img.copy, WHITE).native()

        return read

    small = middle(original, 0.45)  # a fifth of the canvas: under min_inside_area
    assert inside_copy(thumb(small), thumb(original), reader(small), reader(original), FLUSH) is None
    wide = original.crop((0, 100, 222, 200)).resize((240, 100))  # wider than the original
    assert inside_copy(thumb(wide), thumb(original), reader(wide), reader(original), FLUSH) is None
    sticker = region.convert("RGBA")
    alpha = np.where(np.arange(sticker.height)[:, None] < 40, 0, 255).repeat(sticker.width, 1)
    sticker.putalpha(Image.fromarray(alpha.astype(np.uint8)))  # its top rows transparent
    assert inside_copy(thumb(sticker), thumb(original), reader(sticker), reader(original), FLUSH) is None
    assert reads == []  # refused by sizes and alpha alone: no file read
    assert inside_copy(thumb(region), thumb(original), reader(region), reader(original), FLUSH) is not None


def test_a_heavy_crop_of_a_large_noisy_canvas_is_placed_to_the_pixel():
    """Files over 256 pixels are slid reduced by whole pixels (a 1,080-pixel crop: by 4), then
    the middle of the smaller one, at native size, finds the whole pixel."""
    rng = np.random.default_rng(6)
    ground = np.clip(128 + rng.normal(0, 20, (1500, 1000, 1)), 0, 255).repeat(3, axis=2).astype(np.uint8)
    original = Image.fromarray(ground)
    ImageDraw.Draw(original).ellipse([400, 1300, 470, 1370], outline=(130, 40, 40), width=8)
    original = jpeg(original)
    copy = jpeg(original.crop((203, 301, 203 + 600, 301 + 900)))  # not on the reduced grid
    inside = inside_copy(thumb(copy), thumb(original), grey(copy).native, grey(original).native, FLUSH)
    assert inside is not None and inside.correlation > 0.9
    to_outer = KEYPOINT_SIDE / 1500
    assert np.allclose(inside.transform[:, 2], [203 * to_outer, 301 * to_outer])
