"""The composite model: a transparent drawing's copy flattened on one colour is recognised pixel
for pixel, even when the drawing is too small for hashes, embeddings or alignment; another
glyph, a moved glyph, an added mark or a plain canvas of that colour is not."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw
from test_align import thumb

from curation.dedupe.composite import CompositeLimits, Copies, background_grey, composite_scores

LIMITS = CompositeLimits()
WHITE_GREY = background_grey((255, 255, 255))


def glyph(shape: str = "bolt", at=(100, 60), size=(256, 192)) -> Image.Image:
    """A small glyph on a fully transparent canvas (about 1% of its pixels)."""
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    x, y = at
    if shape == "bolt":
        d.polygon(
            [(x + 4, y), (x + 16, y), (x + 10, y + 12), (x + 20, y + 12), (x + 2, y + 32), (x + 8, y + 16), (x, y + 16)],
            fill=(40, 60, 160, 255),
        )
    else:
        d.ellipse([x, y + 2, x + 20, y + 30], fill=(40, 60, 160, 255))
    return img


def on(img: Image.Image, colour, jpeg: bool = True) -> Image.Image:
    flat = Image.alpha_composite(Image.new("RGBA", img.size, colour + (255,)), img).convert("RGB")
    if not jpeg:
        return flat
    buf = io.BytesIO()
    flat.save(buf, format="JPEG", quality=90)
    return Image.open(io.BytesIO(buf.getvalue()))


def scores(original: Image.Image, *copies: Image.Image) -> list[tuple[int, float] | None]:
    """For each copy: (disagreeing pixels, correlation) when it is ``original`` on one colour, else None."""
    found = {
        k: (d, c) for k, d, c in composite_scores(thumb(original), Copies.of([thumb(c) for c in copies]), WHITE_GREY, LIMITS)
    }
    return [found.get(k) for k in range(len(copies))]


@pytest.mark.parametrize("colour", [(245, 130, 190), (128, 128, 128), (0, 0, 0), (250, 250, 250), (20, 200, 40)])
def test_a_small_transparent_glyph_on_a_colour_is_its_composite(colour):
    [score] = scores(glyph(), on(glyph(), colour))  # one copy among others of its size: found alone
    among = scores(glyph(), on(glyph("ellipse"), colour), on(glyph(), colour), Image.new("RGB", (256, 192), colour))
    assert among[0] is None and among[2] is None and among[1] == (score[0], pytest.approx(score[1], abs=1e-5))
    assert score is not None
    disagree, correlation = score
    assert disagree <= 2 and correlation > 0.97


def test_other_glyphs_moved_glyphs_added_marks_and_plain_canvases_are_not():
    pink = (245, 130, 190)
    marked = on(glyph(), pink, jpeg=False)
    ImageDraw.Draw(marked).rectangle([200, 150, 214, 164], fill=(10, 160, 10))
    copies = [
        on(glyph("ellipse"), pink),  # another glyph at the same place
        on(glyph(at=(140, 90)), pink),  # the glyph moved
        marked,  # the copy with a mark added
        Image.new("RGB", (256, 192), pink),
    ]  # a plain canvas of the copy's colour
    assert scores(glyph(), *copies) == [None] * len(copies)


def test_a_drawing_that_vanishes_into_the_colour_does_not_match_a_plain_canvas():
    """A glyph flattened on its own colour leaves a plain canvas: nothing says it was there."""
    same = (40, 60, 160)
    assert scores(glyph(), on(glyph(), same, jpeg=False)) == [None]


def test_opaque_originals_and_mostly_opaque_canvases_are_not_judged():
    opaque = on(glyph(), (255, 255, 255), jpeg=False)
    assert scores(opaque, on(glyph(), (245, 130, 190))) == [None]
    big = Image.new("RGBA", (256, 192), (0, 0, 0, 0))
    ImageDraw.Draw(big).rectangle([0, 0, 230, 180], fill=(200, 100, 50, 255))  # over 80% opaque
    assert scores(big, on(big, (245, 130, 190))) == [None]


def test_composite_edges_pair_posts_of_one_size_even_when_their_thumbnails_differ_by_a_pixel():
    """Thumbnails of one file size can differ by a pixel (a JPEG decoded at a reduction); such
    posts are compared with the ones of their own shape, and nothing fails."""
    import numpy as np

    from curation.config import DedupeConfig
    from curation.dedupe.align import Thumb
    from curation.dedupe.edges import HashTable
    from curation.dedupe.stage import composite_edges

    original, copy = thumb(glyph()), thumb(on(glyph(), (245, 130, 190)))
    odd = Thumb(np.full((47, 64), 200, np.uint8), None, 256, 192)  # one row short
    rows = {0: original, 1: copy, 2: odd}

    class Rows:
        def of(self, wanted):
            return {k: rows[k] for k in wanted}

    n = 3
    t = HashTable(
        post_id=np.array([10, 11, 12]),
        file_md5=np.array(["a", "b", "c"], object),
        pixel_sha256=np.array(["a", "b", "c"], object),
        phash=np.zeros(n, np.uint64),
        dhash=np.zeros(n, np.uint64),
        phash_mirror=np.zeros(n, np.uint64),
        dhash_mirror=np.zeros(n, np.uint64),
        information=np.full(n, 5.0, np.float32),
        family=np.array([10, 11, 12]),
        has_alpha=np.array([True, False, False]),
        width=np.full(n, 256),
        height=np.full(n, 192),
    )
    edges = composite_edges(Rows(), t, DedupeConfig(), set(), WHITE_GREY)
    assert [(a, b, kind, disagree) for a, b, kind, disagree, _ in edges] == [(10, 11, "composite", 0)]
    assert composite_edges(Rows(), t, DedupeConfig(), {(10, 11)}, WHITE_GREY) == []  # already joined
