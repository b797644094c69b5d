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
    from curation.dedupe.stage import composite_edges

    original, copy = thumb(glyph()), thumb(on(glyph(), (245, 130, 190)))
    odd = Thumb(np.full((47, 64), 200, np.uint8), None, 256, 192)  # one row short
    rows = {0: original, 1: copy, 2: odd}

    t = posts_table([10, 11, 12], ["a", "b", "c"], [True, False, False])
    edges = composite_edges(Rows(rows), t, DedupeConfig(), set(), WHITE_GREY)
    assert [(a, b, kind, disagree) for a, b, kind, disagree, _ in edges] == [(10, 11, "composite", 0)]
    assert composite_edges(Rows(rows), t, DedupeConfig(), {(10, 11)}, WHITE_GREY) == []  # already joined


def key_distance(original: Image.Image, copy: Image.Image) -> float:
    """RMS grey levels between a copy's key (at its strongest colour) and the original's prediction there."""
    import numpy as np

    from curation.dedupe.composite import cell_means, colour_peaks, prediction_keys

    copied = thumb(copy)
    colour = colour_peaks(copied.grey, 0.15)[0]
    predicted = prediction_keys(thumb(original), WHITE_GREY, np.array([colour], np.float32))[0]
    return float(np.sqrt(np.mean((cell_means(copied.grey) - colour - predicted) ** 2)))


def test_composites_are_sought_only_among_copies_near_the_prediction():
    """A copy's cell means are its original's prediction on the copy's colour, to rounding and
    compression; a picture full of detail, another glyph or the glyph moved is far from it and
    is never compared."""
    import numpy as np

    from curation.dedupe.composite import CANDIDATE_RMS
    from curation.dedupe.stage import _compare_composites

    for colour in ((245, 130, 190), (0, 0, 0), (250, 250, 250), (20, 200, 40), (128, 128, 128)):
        assert key_distance(glyph(), on(glyph(), colour)) <= 1.0
    pink = (245, 130, 190)
    rng = np.random.default_rng(0)
    others = [Image.fromarray(rng.integers(0, 256, (192, 256, 3), dtype=np.uint8), "RGB") for _ in range(20)]
    others += [on(glyph("ellipse"), pink), on(glyph(at=(140, 90)), pink), on(glyph(at=(100, 120)), pink)]
    assert min(key_distance(glyph(), o) for o in others[20:]) > CANDIDATE_RMS

    rows = {0: thumb(glyph()), 1: thumb(on(glyph(), pink)), **{2 + n: thumb(o) for n, o in enumerate(others)}}
    found: dict = {}
    compared = _compare_composites(Rows(rows), [0], list(range(1, len(rows))), WHITE_GREY, LIMITS, found)
    assert compared == 1 and list(found) == [(0, 1)]


def test_a_post_is_compared_with_a_fixed_number_of_copies_however_many_look_alike(monkeypatch):
    """Candidates grow with the posts, not with the pairs of a size: among many copies that are
    all near the prediction, a transparent post takes its ``CANDIDATES_PER_POST`` nearest, the
    same through the inverted file that large bins use as through the exact index."""
    from curation.dedupe import composite
    from curation.dedupe.stage import _compare_composites

    colours = [(250 - 3 * n, 250 - 3 * n, 250 - 3 * n) for n in range(composite.CANDIDATES_PER_POST + 8)]
    rows = {0: thumb(glyph()), **{1 + n: thumb(on(glyph(), c, jpeg=False)) for n, c in enumerate(colours)}}
    for exact_up_to in (composite.EXACT_SEARCH_UP_TO, 0):
        monkeypatch.setattr(composite, "EXACT_SEARCH_UP_TO", exact_up_to)
        found: dict = {}
        compared = _compare_composites(Rows(rows), [0], list(range(1, len(rows))), WHITE_GREY, LIMITS, found)
        assert compared == composite.CANDIDATES_PER_POST == len(found)


def test_a_drawing_framed_in_the_colour_it_is_flattened_on_is_still_a_candidate():
    """A transparent post whose drawing has a dark frame around a clear middle, reposted on the
    frame's own colour: the frame and the clear middle become one field of the colour, which is
    the copy's colour peak, and the prediction there is the copy."""
    from curation.dedupe.stage import _compare_composites

    framed = Image.new("RGBA", (256, 192), (0, 0, 0, 0))
    d = ImageDraw.Draw(framed)
    d.rectangle([0, 0, 255, 191], outline=(22, 22, 22, 255), width=8)
    d.ellipse([40, 30, 216, 162], fill=(200, 60, 60, 255))
    copy = on(framed, (22, 22, 22))
    assert key_distance(framed, copy) <= 1.0
    found: dict = {}
    assert _compare_composites(Rows({0: thumb(framed), 1: thumb(copy)}), [0], [1], WHITE_GREY, LIMITS, found) == 1
    assert list(found) == [(0, 1)]


def test_colour_peaks_are_the_greys_that_cover_enough_of_a_picture():
    import numpy as np

    from curation.dedupe.composite import colour_peaks

    grey = np.full((48, 64), 200, np.uint8)
    grey[:, :20] = 30  # 31% of the picture
    grey[:10, 30:40] = 120  # 3%: too little
    grey[40:, :] = 203  # one colour with the 200 around it: 71% together
    assert colour_peaks(grey, 0.15) == [200.0, 30.0]
    assert colour_peaks(grey, 0.5) == [200.0]
    assert colour_peaks(grey, 0.8) == []
    assert colour_peaks(np.linspace(0, 255, 48 * 64).reshape(48, 64).astype(np.uint8), 0.15) == []  # a gradient


class StoredChecks:
    """``pixel_checks`` as a dict: the last run's answers, and this run's (what PixelChecks keeps)."""

    def __init__(self, last: dict | None = None) -> None:
        self.last, self.used = dict(last or {}), {}

    def known(self, keys):
        found = {k: self.last[k] for k in keys if k in self.last}
        self.used.update(found)
        return found

    def stored_with_prefix(self, prefix):
        return {k: v for k, v in self.last.items() if k.startswith(prefix)}

    def add(self, key, score):
        self.used[key] = score


class Rows:
    """Thumbnails by row, as dedupe's Thumbnails serves them, with the stored checks beside them."""

    def __init__(self, thumbs: dict, checks: StoredChecks | None = None) -> None:
        self.thumbs, self.checks = thumbs, checks or StoredChecks()

    def of(self, wanted):
        return {k: self.thumbs[k] for k in wanted if k in self.thumbs}


def posts_table(post_ids: list[int], md5s: list[str], transparent: list[bool]):
    import numpy as np

    from curation.dedupe.edges import HashTable

    n = len(post_ids)
    return HashTable(
        post_id=np.array(post_ids),
        file_md5=np.array(md5s, object),
        pixel_sha256=np.array(md5s, object),
        phash=np.zeros(n, np.uint64),
        dhash=np.zeros(n, np.uint64),
        phash_mirror=np.zeros(n, np.uint64),
        dhash_mirror=np.zeros(n, np.uint64),
        information=np.full(n, 5.0, np.float32),
        family=np.array(post_ids),
        has_alpha=np.array(transparent),
        width=np.full(n, 256),
        height=np.full(n, 192),
    )


def test_a_rebuild_compares_only_pairs_with_a_new_file_and_finds_what_a_fresh_run_finds(monkeypatch):
    from curation.config import DedupeConfig
    from curation.dedupe import stage

    compared: list[tuple[int, int]] = []
    real = stage.composite_scores

    def counting(original, copies, background, limits):
        compared.append((id(original), len(copies.grey)))
        return real(original, copies, background, limits)

    monkeypatch.setattr(stage, "composite_scores", counting)
    bolt, ring = glyph("bolt"), glyph("ring", at=(40, 100))
    thumbs = {0: thumb(bolt), 1: thumb(on(bolt, (245, 130, 190))), 2: thumb(on(ring, (90, 200, 120)))}
    first = Rows(thumbs)
    before = stage.composite_edges(
        first, posts_table([10, 11, 12], ["a", "b", "c"], [True, False, False]), DedupeConfig(), set(), WHITE_GREY
    )
    assert [(a, b) for a, b, *_ in before] == [(10, 11)]
    assert sum(n for _, n in compared) == 1  # the bolt against its copy: the ring on green is far from it
    # the next snapshot: the ring arrives, a second copy of the bolt, and a repost of file b
    thumbs.update({3: thumb(ring), 4: thumb(on(bolt, (250, 220, 60)))})
    newer = posts_table([10, 11, 12, 13, 14, 15], ["a", "b", "c", "d", "e", "b"], [True, False, False, True, False, False])
    compared.clear()
    thumbs[5] = thumbs[1]
    rebuilt = stage.composite_edges(Rows(thumbs, StoredChecks(first.checks.used)), newer, DedupeConfig(), set(), WHITE_GREY)
    reused_compares = sum(n for _, n in compared)
    compared.clear()
    fresh = stage.composite_edges(Rows(thumbs), newer, DedupeConfig(), set(), WHITE_GREY)
    assert rebuilt == fresh
    assert [(a, b) for a, b, *_ in fresh] == [(10, 11), (10, 14), (10, 15), (12, 13)]
    # from scratch: each transparent post with its copies only (the bolt's three, the ring's one);
    # the rebuild: the new ring with its copy, the old bolt with its new copy (e) alone
    assert sum(n for _, n in compared) == 4 and reused_compares == 2
