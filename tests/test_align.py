"""Pixel alignment of thumbnails: crops, padded copies and transparent drawings on a colour align
with their originals; different drawings of one layout, resizes and flat pictures do not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps
from test_pitfalls import picture

from curation.dedupe.align import AlignLimits, Thumb, alignment, contained_size
from curation.images.hashing import WHITE, flatten_alpha, has_real_alpha, picture_hashes

LIMITS = AlignLimits()


def thumb(img: Image.Image) -> Thumb:
    """The Thumb the images stage stores for ``img`` (alpha flattened on white)."""
    h = picture_hashes(img, WHITE, has_real_alpha(img))
    grey = np.frombuffer(h["thumb"], dtype=np.uint8).reshape(-1, h["thumb_width"])
    alpha = None if h["thumb_alpha"] is None else np.frombuffer(h["thumb_alpha"], dtype=np.uint8).reshape(grey.shape)
    return Thumb(grey, alpha, img.width, img.height)


def crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


def pad(img: Image.Image, colour: tuple[int, int, int], square: bool) -> Image.Image:
    w, h = img.size
    size = (max(w, h),) * 2 if square else (w + 24, h + 24)
    out = Image.new("RGB", size, colour)
    out.paste(img.convert("RGB"), ((size[0] - w) // 2, (size[1] - h) // 2))
    return out


@pytest.mark.parametrize("box", [(0.1, 0, 0, 0), (0, 0.12, 0.05, 0), (0.15, 0.1, 0.0, 0.14), (0.03, 0.03, 0.03, 0.03)])
def test_a_crop_aligns_with_its_original(box):
    original = picture(3).convert("RGB")
    score = alignment(thumb(original), thumb(crop(original, *box)), LIMITS)
    assert score is not None and score >= LIMITS.threshold


@pytest.mark.parametrize(
    "colour,square", [((0, 0, 0), True), ((255, 255, 255), True), ((0, 0, 0), False), ((255, 255, 255), False)]
)
def test_a_padded_copy_aligns_with_its_original(colour, square):
    original = picture(4).convert("RGB")
    score = alignment(thumb(pad(original, colour, square)), thumb(original), LIMITS)
    assert score is not None and score >= LIMITS.threshold


@pytest.mark.parametrize("colour", [(0, 0, 0), (128, 128, 128), (255, 192, 203)])
def test_a_transparent_drawing_cropped_on_a_colour_aligns_on_its_opaque_pixels(colour):
    original = picture(5, alpha=True)
    copy = crop(flatten_alpha(original, colour), 0.08, 0, 0, 0.1)
    score = alignment(thumb(original), thumb(copy), LIMITS)
    assert score is not None and score >= LIMITS.threshold


def test_different_drawings_of_one_layout_do_not_align():
    a = picture(6).convert("RGB")
    b = crop(picture(7).convert("RGB"), 0.1, 0, 0, 0.1)
    score = alignment(thumb(a), thumb(b), LIMITS)
    assert score is not None and score < 0.8


def test_sizes_that_cannot_be_a_crop_or_padding_are_not_compared():
    original = picture(8).convert("RGB")
    smaller = original.resize((192, 144))
    assert contained_size(thumb(original), thumb(smaller), LIMITS) is not None  # a 3/4-size copy fits ...
    assert alignment(thumb(original), thumb(smaller), LIMITS) < LIMITS.threshold  # ... but its pixels are at another scale
    assert alignment(thumb(original), thumb(ImageOps.mirror(original)), LIMITS) is None  # same canvas: not this test's to judge
    tall = original.resize((100, 300))
    assert alignment(thumb(original), thumb(tall), LIMITS) is None  # taller than the original: neither inside the other


def test_near_flat_pictures_agree_only_when_their_glyph_does():
    """A near-empty canvas with one small glyph: a re-encode agrees; another glyph at the same
    place does not, though the hashes of such pictures say little."""
    import io

    from test_pitfalls import near_flat

    from curation.dedupe.align import agreement

    limits = AlignLimits(min_std=1.0)
    original = near_flat("bolt")
    buf = io.BytesIO()
    original.convert("RGB").save(buf, format="JPEG", quality=80)
    assert agreement(thumb(original), thumb(Image.open(buf)), limits) >= 0.95
    assert agreement(thumb(original), thumb(near_flat("ellipse")), limits) < 0.9


def test_a_square_padded_to_a_larger_square_agrees_by_alignment():
    """One aspect ratio, so the canvases are compared whole first (the padding makes them
    disagree); the picture found inside the padded copy is what agrees."""
    from test_pitfalls import near_flat

    from curation.dedupe.align import agreement, same_canvas

    limits = AlignLimits(min_std=1.0)
    square = near_flat("bolt").crop((64, 0, 256, 192))
    padded = pad(square, (20, 20, 20), square=False)  # 216 x 216
    assert same_canvas(thumb(square), thumb(padded), limits) < 0.5
    assert agreement(thumb(square), thumb(padded), limits) >= 0.95
    assert agreement(thumb(square), thumb(pad(near_flat("ellipse").crop((64, 0, 256, 192)), (20, 20, 20), False)), limits) < 0.9


def test_a_flat_crop_is_not_aligned():
    flat = Image.new("RGB", (256, 192), (120, 160, 200))
    assert alignment(thumb(flat), thumb(crop(flat, 0.1, 0.1, 0, 0)), LIMITS) is None


def test_a_watermarked_copy_agrees_once_the_watermark_box_is_left_out():
    """A caption laid over one corner changes one compact patch; the rest of the canvas is the
    original's. Differences spread over the canvas, or over two far corners, are not one box."""
    from curation.dedupe.align import same_canvas
    from curation.synth.transforms import overlay_watermark

    original = picture(9, background=(24, 24, 30, 255)).convert("RGB")
    marked = overlay_watermark(original, "bl", 0.66)
    strict, tolerant = AlignLimits(threshold=0.97), AlignLimits(threshold=0.97, overlay_area=0.1)
    assert same_canvas(thumb(original), thumb(marked), strict) < 0.97  # the box alone costs that much
    assert same_canvas(thumb(original), thumb(marked), tolerant) >= 0.99
    twice = overlay_watermark(marked, "tr", 0.66)
    assert same_canvas(thumb(original), thumb(twice), tolerant) < 0.97
    other = picture(10, background=(24, 24, 30, 255)).convert("RGB")
    assert same_canvas(thumb(original), thumb(other), tolerant) < 0.8


def test_low_contrast_canvases_compared_whole_need_less_spread_than_a_sliding_search():
    """A faint picture (thumbnail spread ~7 grey levels) and its JPEG re-encode: too flat to
    slide one over the other safely, but compared whole at one placement they agree, and a
    different faint picture does not."""
    import io

    from curation.dedupe.align import same_canvas

    def faint(seed: int) -> Image.Image:
        img = picture(seed, background=(200, 200, 200, 255)).convert("L")
        return Image.eval(img, lambda v: 190 + v // 12).convert("RGB")  # grey levels squeezed into 190..211

    buf = io.BytesIO()
    faint(11).save(buf, format="JPEG", quality=70)
    original, copy, other = thumb(faint(11)), thumb(Image.open(buf)), thumb(faint(12))
    assert 2 < original.grey.std() < 12
    assert same_canvas(original, copy, AlignLimits(threshold=0.97)) is None  # below the sliding search's spread
    whole = AlignLimits(threshold=0.97, canvas_min_std=1.0)
    assert same_canvas(original, copy, whole) >= 0.97
    assert same_canvas(original, other, whole) < 0.8


def _sparse(seed: int, ground, shapes: int = 3, width: int = 5) -> Image.Image:
    """A few small outlined shapes on ``ground`` (a (192, 256) grey array): a near-flat picture
    whose spread lies in its shapes, or in the ground when that is a gradient."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    img = Image.fromarray(ground.astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(shapes):
        x, y = int(rng.integers(10, 200)), int(rng.integers(10, 130))
        draw.ellipse([x, y, x + 40, y + 40], outline=(230, 110, 190), width=width)
    return img


def test_a_near_flat_picture_with_a_caption_strip_aligns_by_its_detail():
    """A few shapes on a plain ground, too flat for the usual sliding search, and a copy with a
    caption strip added below: their fine detail agrees, so with ``flat_min_std`` they align;
    the same shapes elsewhere do not."""
    from curation.synth.transforms import apply

    original = _sparse(1, np.full((192, 256), 244.0), shapes=2)
    captioned = apply("caption", {"ext": "png", "where": "bottom", "height": 0.15}, original)
    flat_route = AlignLimits(flat_min_std=1.0)
    assert thumb(original).grey.std() < LIMITS.min_std
    assert alignment(thumb(captioned), thumb(original), LIMITS) is None
    score = alignment(thumb(captioned), thumb(original), flat_route)
    assert score is not None and score >= flat_route.threshold
    other = apply("caption", {"ext": "png", "where": "bottom", "height": 0.15}, _sparse(2, np.full((192, 256), 244.0), shapes=2))
    assert alignment(thumb(other), thumb(original), flat_route) is None


def test_near_flat_skies_do_not_align_by_their_gradient():
    """Two skies graded the same way with different shapes on them: the gradient alone makes
    them correlate at any placement, their fine detail does not."""
    sky = np.repeat(np.linspace(85, 125, 192)[:, None], 256, axis=1)
    one, other = _sparse(3, sky, shapes=1, width=2), _sparse(4, sky, shapes=1, width=2)
    cut = crop(other, 0.15, 0.1, 0.0, 0.0)
    assert alignment(thumb(one), thumb(cut), AlignLimits(min_std=1.0)) >= LIMITS.threshold  # the gradient's doing
    assert alignment(thumb(one), thumb(cut), AlignLimits(flat_min_std=1.0)) is None
    assert alignment(thumb(other), thumb(cut), AlignLimits(flat_min_std=1.0)) >= LIMITS.threshold
