"""Keypoint matching (curation.dedupe.keypoints): a copy with censor bars matches its original
under one similarity transform and agrees on the pixels outside the bars; a different picture
reusing part of the same shapes does not; on a synthetic board, heavy crops, rescaled crops,
small turns and censored copies match with the right relation and no look-alike matches;
keypoints survive the catalog's packing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_align import thumb

from curation.dedupe.keypoints import (
    RELATIONS,
    FineScore,
    KeypointLimits,
    Match,
    NearMiss,
    censored_in_place,
    check_pair,
    decode,
    decode_miss,
    encode,
    refine_transform,
    upright_fit,
    verify_pair,
)
from curation.dedupe.reread import GreyFile
from curation.images.hashing import WHITE, keypoint_columns, keypoint_grey
from curation.images.keypoints import Keypoints, find_keypoints

LIMITS = KeypointLimits()


def scene(seed: int, size=(256, 200)) -> Image.Image:
    """Many small outlined shapes in seeded colours and places: corners for keypoints everywhere."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (235, 230, 220))
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        w, h = int(rng.integers(8, 30)), int(rng.integers(8, 30))
        colour = tuple(int(c) for c in rng.integers(0, 220, 3))
        shape = d.ellipse if rng.random() < 0.4 else d.rectangle
        shape([x, y, x + w, y + h], fill=colour, outline=(15, 15, 15), width=2)
    return img


def points(img: Image.Image) -> Keypoints:
    found = find_keypoints(img.convert("L"))
    assert found is not None
    return found


def grey(img: Image.Image) -> GreyFile:
    """The reader the dedupe stage passes: the picture's grey in its keypoint frame, or native."""
    return GreyFile(img.copy, WHITE)


def match(a: Image.Image, b: Image.Image) -> Match | None:
    return verify_pair(points(a), points(b), thumb(a), thumb(b), grey(a), grey(b), LIMITS)


def censored(img: Image.Image) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    d.rectangle([40, 60, 120, 80], fill=(0, 0, 0))
    d.rectangle([150, 120, 230, 138], fill=(0, 0, 0))
    return out


@pytest.mark.parametrize("make,relation", [(censored, "edited")])
def test_a_repost_matches_its_original_and_says_how(make, relation):
    original = scene(1)
    found = match(original, make(original))
    assert found is not None
    assert found.relation == relation
    assert found.correlation >= LIMITS.threshold and found.inliers >= LIMITS.min_inliers


def test_a_different_picture_with_the_same_shapes_moved_does_not_match():
    original = scene(1)
    other = scene(2)
    # the left half of the original pasted into another scene: many keypoints agree on one part
    other.paste(original.crop((0, 0, 100, 200)), (0, 0))
    assert match(original, other) is None
    assert match(original, scene(3)) is None


def stretched_crop(img: Image.Image) -> Image.Image:
    """A crop keeping 86% of the width and 82% of the height, resized back to the original's
    size: one axis stretched 1.05 times the other, which no similarity transform describes."""
    w, h = img.size
    return img.crop((round(0.06 * w), round(0.05 * h), round(0.92 * w), round(0.87 * h))).resize(img.size, Image.LANCZOS)


def test_a_crop_resized_to_another_aspect_matches_only_under_the_pixel_fit():
    original = scene(1)
    copy = stretched_crop(original)
    found = match(original, copy)
    assert found is not None and found.relation == "cropped"
    axes = np.linalg.svd(found.transform[:, :2], compute_uv=False)
    assert axes[0] / axes[1] == pytest.approx(0.86 / 0.82, abs=0.01)  # the stretch the crop made, recovered
    never_refined = KeypointLimits(refine_below=(2.0, 0.0, 0.0))
    assert (
        verify_pair(points(original), points(copy), thumb(original), thumb(copy), grey(original), grey(copy), never_refined)
        is None
    )


def stretched_back(img: Image.Image) -> Image.Image:
    """A crop keeping 73% of the width and 88% of the height, resized back to the original's size
    (as boards' crops to a standard size are): one axis stretched 1.2 times the other."""
    w, h = img.size
    return img.crop((round(0.1 * w), round(0.05 * h), round(0.83 * w), round(0.93 * h))).resize(img.size, Image.LANCZOS)


def test_a_crop_stretched_back_to_the_originals_size_is_fitted_by_its_keypoints(monkeypatch):
    """Stretched 1.2 times more across than down, the copy's keypoints miss a similarity fit by
    so much away from the middle that the thumbnails disagree (too far for a fit to their pixels);
    an affine fit to the matches finds the stretch. A look-alike (one shape added) stretched the
    same way is still refused, and without the stretched fit the copy is not found."""
    from curation.dedupe import keypoints as keypoint_check

    original = scene(2, size=(256, 256))
    found = match(original, stretched_back(original))
    assert found is not None and found.relation == "cropped"
    axes = np.sort(np.linalg.svd(found.transform[:, :2], compute_uv=False))
    assert axes[1] / axes[0] == pytest.approx((1 / 0.73) / (1 / 0.88), abs=0.02)

    look_alike = original.copy()
    ImageDraw.Draw(look_alike).ellipse([120, 100, 140, 120], fill=(200, 30, 160), outline=(15, 15, 15), width=2)
    assert match(original, stretched_back(look_alike)) is None

    monkeypatch.setattr(keypoint_check, "stretched_fit", lambda *args, **kwargs: None)
    assert match(original, stretched_back(original)) is None


def test_the_stretched_fit_recovers_a_stretch_and_refuses_a_shear():
    """Matches (keypoint-frame points) under a known stretch with a quarter of them wrong: the fit
    recovers it; the same under a shear, or a stretch beyond max_anisotropy, gives None."""
    from curation.dedupe.keypoints import stretched_fit

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 256, (60, 2)).astype(np.float32)
    descriptors = rng.integers(0, 256, (60, 32), dtype=np.uint8)
    wrong = rng.random(60) < 0.25

    def moved(linear: list[list[float]]) -> Keypoints:
        target = xy @ np.array(linear, np.float32).T + np.float32([7, -5]) + rng.normal(0, 0.5, xy.shape).astype(np.float32)
        target[wrong] = rng.uniform(0, 256, (int(wrong.sum()), 2))
        return Keypoints(target.astype(np.float32), descriptors)

    matches = (np.arange(60), np.arange(60))
    a = Keypoints(xy, descriptors)
    fitted = stretched_fit(a, moved([[1.3, 0.0], [0.0, 1.1]]), 6, LIMITS, matches)
    assert fitted is not None and np.allclose(fitted[:, :2], [[1.3, 0], [0, 1.1]], atol=0.01)
    assert np.allclose(fitted[:, 2], [7, -5], atol=0.3)
    assert stretched_fit(a, moved([[1.2, 0.3], [0.0, 1.2]]), 6, LIMITS, matches) is None  # sheared
    assert stretched_fit(a, moved([[1.6, 0.0], [0.0, 1.0]]), 6, LIMITS, matches) is None  # 1.6 > max_anisotropy
    assert stretched_fit(a, moved([[1.3, 0.0], [0.0, 1.1]]), 59, LIMITS, matches) is None  # fewer than the similarity's


def night(seed: int, size=(256, 256)) -> Image.Image:
    """Stars (single pixels and small dots) and a few filled shapes on a dark blue sky."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (20, 24, 60))
    d = ImageDraw.Draw(img)
    for _ in range(60):
        x, y = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        d.point((x, y), fill=(255, 255, 220)) if rng.random() < 0.5 else d.ellipse([x, y, x + 2, y + 2], fill=(250, 250, 200))
    for _ in range(6):
        x, y = int(rng.integers(0, size[0] - 60)), int(rng.integers(0, size[1] - 60))
        w, h = int(rng.integers(20, 60)), int(rng.integers(20, 60))
        colour = tuple(int(c) for c in rng.integers(60, 255, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x, y, x + w, y + h], fill=colour)
    return img


def test_a_starry_crop_resized_to_another_aspect_is_refitted_though_many_stars_lack_a_partner():
    """A crop keeping 80% of the width and 90% of the height, resized back to a square: under
    the keypoints' similarity fit the small stars miss their partners by a pixel or two (over a
    third of one picture's edges), which used to stop the fit to the files' pixels; refined, the
    two agree. The same crop of the scene with two shapes added, and of another night, do not."""
    original = night(1)
    w, h = original.size

    def stretched(img: Image.Image) -> Image.Image:
        return img.crop((round(0.1 * w), round(0.05 * h), round(0.9 * w), round(0.95 * h))).resize((w, h), Image.LANCZOS)

    def check(copy: Image.Image, limits: KeypointLimits = LIMITS):
        return check_pair(points(original), points(copy), thumb(original), thumb(copy), grey(original), grey(copy), limits)

    assert isinstance(check(stretched(original)), Match)
    assert isinstance(check(stretched(original), KeypointLimits(refine_below=(0.85, 0.15, 0.35))), NearMiss)
    edited = original.copy()
    ImageDraw.Draw(edited).ellipse([100, 90, 150, 140], fill=(200, 40, 40))
    ImageDraw.Draw(edited).rectangle([30, 170, 70, 200], fill=(40, 200, 90))
    assert check(stretched(edited)) is None
    assert check(stretched(night(101))) is None


def test_thumbnails_a_similarity_cannot_align_agree_once_refitted_and_the_files_are_held_strictly():
    """A crop keeping 92% of the width and 82% of the height, resized back: under the keypoints'
    similarity fit the thumbnails correlate under 0.95; an affine fit to the thumbnails brings
    them together, and the files are then held to a refined fit's standard."""
    from curation.dedupe.keypoints import coarse_match, fit_transform, warped_agreement

    original = scene(1)
    w, h = original.size
    copy = original.crop((round(0.04 * w), round(0.08 * h), round(0.96 * w), round(0.9 * h))).resize(original.size, Image.LANCZOS)
    similarity, _, _ = fit_transform(points(copy), points(original), LIMITS)
    correlation, _, _ = warped_agreement(thumb(copy), thumb(original), similarity, LIMITS)
    assert LIMITS.refine_below[0] <= correlation < LIMITS.threshold
    coarse = coarse_match(points(copy), points(original), thumb(copy), thumb(original), LIMITS)
    assert coarse is not None and coarse.strict and coarse.agreed
    assert warped_agreement(thumb(copy), thumb(original), coarse.transform, LIMITS)[0] >= LIMITS.threshold
    assert isinstance(match(copy, original), Match)


def test_keypoints_on_one_small_shape_are_held_to_the_strict_standard():
    """All keypoints on one small detailed shape of a plain picture: a crop of the picture is
    let through only strictly (the files must show it inside the other, differing hardly at
    all) and matches; the same shape on a picture that differs elsewhere in the overlap does
    not."""
    from curation.dedupe.keypoints import coarse_match

    plain = Image.new("RGB", (256, 200), (235, 230, 220))
    plain.paste(scene(1).resize((34, 27)), (150, 40))
    cut = plain.crop((60, 10, 236, 150))
    coarse = coarse_match(points(cut), points(plain), thumb(cut), thumb(plain), LIMITS)
    assert coarse is not None and coarse.strict and not coarse.agreed  # no near miss of a glyph either
    assert isinstance(match(cut, plain), Match)
    other = plain.copy()
    ImageDraw.Draw(other).ellipse([20, 120, 70, 170], fill=(120, 60, 60))
    assert match(cut, other) is None


def test_the_pixel_fit_recovers_a_known_affine_transform_from_a_rough_start():
    picture = grey(scene(4))()
    h, w = picture.shape
    truth = np.array([[1.06, 0.02, -9.0], [-0.01, 0.94, 6.0]])  # picture -> its copy's frame
    copy = cv2.warpAffine(picture, truth, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    rough = np.array([[1.0, 0.0, -6.0], [0.0, 1.0, 3.0]])  # what keypoints might give: a shift, no stretch
    refined = refine_transform(picture, copy, rough, LIMITS)
    assert refined is not None
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    assert np.abs(corners @ refined.T - corners @ truth.T).max() < 0.5
    far = np.array([[1.0, 0.0, 60.0], [0.0, 1.0, 0.0]])  # a start the fit cannot bring near without wandering
    assert refine_transform(picture, copy, far, LIMITS) is None


def test_a_refined_fit_must_show_one_picture_inside_the_other_and_almost_no_difference():
    close = FineScore(
        correlation=0.99,
        unexplained=0.002,
        unmatched_edges=0.0,
        unmatched_edges_worse=0.0,
        boxes=0.0,
        contained=1.0,
        unshifted=0.002,
    )
    assert close.passes(LIMITS) and close.passes(LIMITS, refined=True)
    overlapping = FineScore(0.99, 0.002, 0.0, 0.0, 0.0, contained=0.7, unshifted=0.0)  # two crops sharing a part
    assert overlapping.passes(LIMITS) and not overlapping.passes(LIMITS, refined=True)
    changed_detail = FineScore(0.99, 0.01, 0.0, 0.0, 0.0, contained=1.0, unshifted=0.006)  # a look-alike's other mouth
    assert changed_detail.passes(LIMITS) and not changed_detail.passes(LIMITS, refined=True)
    assert changed_detail.worth_refining(LIMITS) and not overlapping.worth_refining(LIMITS)
    resampled = FineScore(0.99, 0.01, 0.0, 0.0, 0.0, contained=1.0, unshifted=0.0)  # thin lines along every edge
    assert resampled.passes(LIMITS, refined=True)
    # a grid turned a few degrees: 5% of thin lines differ, every pixel of them within one of its place
    turned_grid = FineScore(0.975, 0.052, 0.0, 0.0005, 0.0, contained=1.0, unshifted=0.0)
    assert turned_grid.passes(LIMITS, refined=True) and not turned_grid.passes(LIMITS)  # only under a fit to the pixels
    assert not FineScore(0.99, 0.07, 0.0, 0.0, 0.0, contained=1.0, unshifted=0.0).passes(LIMITS, refined=True)
    # the closest look-alike of the 20,000-post board: 0.07% of its overlap unexplained by any shift
    assert not FineScore(0.99, 0.02, 0.0, 0.0, 0.0, contained=0.94, unshifted=0.0007).passes(LIMITS, refined=True)
    assert not FineScore(0.99, 0.02, 0.0, 0.0, 0.0, contained=1.0, unshifted=0.0).passes(LIMITS, edited=True)
    # outside bars: JPEG ringing along the bars leaves ~1% (a censored copy of repost board C);
    # the closest look-alike with bars found, on the 20,000-post board, differed by 1.9%
    assert resampled.passes(LIMITS, edited=True)
    assert FineScore(0.95, 0.0105, 0.0, 0.038, 0.14, contained=1.0, unshifted=0.0068).passes(LIMITS, edited=True)
    assert not FineScore(0.95, 0.019, 0.0, 0.11, 0.02, contained=1.0, unshifted=0.004).passes(LIMITS, edited=True)


def test_what_a_pixels_shift_explains_is_told_from_what_changed():
    """Under a fit a pixel off, a copy differs in thin lines along every edge, all within one
    pixel of where the other picture has that grey; a changed patch does not."""
    from curation.dedupe.keypoints import fine_agreement

    picture = np.asarray(keypoint_grey(scene(1), WHITE), dtype=np.float32)
    pixel_off = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    shifted = fine_agreement(picture, picture, pixel_off, LIMITS)
    changed = picture.copy()
    cv2.circle(changed, (110, 70), 9, 30.0, -1)  # another eye
    cv2.circle(changed, (110, 70), 4, 220.0, -1)
    patched = fine_agreement(picture, changed, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), LIMITS)
    assert shifted is not None and patched is not None
    assert shifted.unexplained > LIMITS.max_refined_unexplained and shifted.unshifted <= LIMITS.max_unshifted
    assert patched.unexplained > 0.002 and patched.unshifted > 0.5 * patched.unexplained


def test_keypoints_pack_and_unpack_as_the_catalog_keeps_them():
    img = scene(4, size=(1024, 800))  # reduced to the 256-pixel frame first
    found = points(img)
    assert 4 <= len(found.xy) <= 128 and found.xy.max() <= 256
    back = Keypoints.unpack(*found.pack())
    assert np.array_equal(back.descriptors, found.descriptors)
    assert np.abs(back.xy - found.xy).max() < 0.2  # float16 in a 256-pixel frame
    stored = Keypoints.unpack(*keypoint_columns(img, WHITE).values())
    assert stored is not None and 4 <= len(stored.xy) <= 128 and stored.xy.max() <= 256
    flat = keypoint_columns(Image.new("RGB", (300, 200), (90, 90, 90)), WHITE)
    assert flat["keypoints"] == b"" and flat["keypoint_xy"] == b""
    assert Keypoints.unpack(b"", b"") is None


def test_a_match_survives_the_pixel_checks_encoding():
    for relation in RELATIONS:
        for correlation in (0.93, 0.9871, 1.0):
            code = encode(Match(np.eye(2, 3), 10, correlation, relation))
            got_relation, got_correlation = decode(code)
            assert got_relation == relation and abs(got_correlation - correlation) < 1e-9
        for differing in (0.0, 0.016, 0.5, 1.0):
            code = encode(NearMiss(relation, differing))
            assert code < 0  # a refusal, never read as a match
            back = decode_miss(code)
            assert back.relation == relation and abs(back.unexplained - min(differing, 0.999)) < 1e-9


def test_a_pair_refused_at_the_files_is_kept_as_a_near_miss():
    """The stretched crop without the pixel fit: refused at the file comparison, it is a near miss
    of a crop (for the contact sheets of pairs just below the threshold); a picture with nothing
    in common is no near miss."""
    original, copy = scene(1), stretched_crop(scene(1))
    never_refined = KeypointLimits(refine_below=(2.0, 0.0, 0.0))
    files = (points(original), points(copy), thumb(original), thumb(copy), grey(original), grey(copy))
    miss = check_pair(*files, never_refined)
    assert isinstance(miss, NearMiss) and miss.relation == "cropped"
    assert miss.unexplained > never_refined.max_unexplained
    assert isinstance(check_pair(*files, LIMITS), Match)
    other = scene(3)
    assert check_pair(points(original), points(other), thumb(original), thumb(other), grey(original), grey(other), LIMITS) is None


@pytest.fixture(scope="module")
def reposts_board(tmp_path_factory):
    """A 200-post synthetic board with every repost kind and look-alike hard negatives."""
    from curation.synth import generate_board

    out = tmp_path_factory.mktemp("reposts")
    generate_board(out, 200, seed=5, image_size=256, workers=1, reposts="all", duplicate_rate=0.5)
    return out


def _board_file(board, post_id: int):
    """(keypoints, thumbnail, grey reader) of a synthetic post's file, as the stages make them."""
    import polars as pl

    path = dict(pl.read_parquet(board / "truth/posts.parquet").select("post_id", "path").iter_rows())[post_id]
    img = Image.open(board / path)
    img = img.convert("RGBA" if img.mode in ("P", "RGBA", "LA") else "RGB")
    return Keypoints.unpack(*keypoint_columns(img, WHITE).values()), thumb(img), grey(img)


@pytest.mark.parametrize(
    "kind,relation,at_least",
    [
        ("heavy_crop", "derivative", 1),
        ("crop_resize", "cropped", 2),
        ("rotate_small", "rotated", 3),
        ("censor_bars", "edited", 1),
    ],
)
def test_reposts_the_hashes_miss_match_and_say_what_they_are(reposts_board, kind, relation, at_least):
    import polars as pl

    truth = pl.read_parquet(reposts_board / "truth/duplicates.parquet").filter(pl.col("kind") == kind)
    found = []
    for post, source in truth.select("post_id", "source_post_id").iter_rows():
        a, b = _board_file(reposts_board, post), _board_file(reposts_board, source)
        if a[0] is not None and b[0] is not None:
            match = verify_pair(a[0], b[0], a[1], b[1], a[2], b[2], LIMITS)
            if match is not None:
                found.append(match.relation)
    assert len(found) >= at_least, (kind, found, truth.height)
    assert set(found) == {relation}


def test_look_alikes_of_every_kind_do_not_match(reposts_board):
    import polars as pl

    negatives = pl.read_parquet(reposts_board / "truth/hard_negatives.parquet")
    assert set(negatives["kind"]) == {"palette", "layout", "character"}
    for post, like, _ in negatives.iter_rows():
        a, b = _board_file(reposts_board, post), _board_file(reposts_board, like)
        assert a[0] is None or b[0] is None or verify_pair(a[0], b[0], a[1], b[1], a[2], b[2], LIMITS) is None


def test_worker_processes_give_the_answers_of_the_main_process(reposts_board):
    """The stage sends batches of pairs, with only the files they need, to spawned workers."""
    import polars as pl

    from curation.dedupe.keypoints import PairFile, check_batch
    from curation.processes import bounded_map, worker_pool

    posts = pl.read_parquet(reposts_board / "truth/posts.parquet").filter(pl.col("path").is_not_null())
    truth = pl.read_parquet(reposts_board / "truth/duplicates.parquet").filter(
        pl.col("kind").is_in(["heavy_crop", "rotate_small", "censor_bars", "corner_crop"])
    )
    pairs = list(truth.select("post_id", "source_post_id").iter_rows()) + [
        (a, b) for a, b, _ in pl.read_parquet(reposts_board / "truth/hard_negatives.parquet").iter_rows()
    ]
    path = dict(posts.select("post_id", "path").iter_rows())
    files = {}
    for post in {p for pair in pairs for p in pair}:
        points, small, _ = _board_file(reposts_board, post)
        if points is not None:
            files[post] = PairFile(small, points, str(reposts_board / path[post]))
    batches = [pairs[k : k + 5] for k in range(0, len(pairs), 5)]
    tasks = [(batch, {p: files[p] for pair in batch for p in pair if p in files}, WHITE, LIMITS) for batch in batches]
    here = [answer for answers, _ in bounded_map(None, check_batch, tasks, 2) for answer in answers]
    with worker_pool(2) as pool:
        there = [answer for answers, _ in bounded_map(pool, check_batch, tasks, 3) for answer in answers]
    assert here == there
    assert sum(a is not None for a in here) >= 5  # the reposts above match, the look-alikes do not
    assert all(a is None for a in here[len(truth) :])


def sticker(img: Image.Image, canvas=(256, 200), place=(70, 50)) -> Image.Image:
    """``img`` shrunk onto the middle of a transparent canvas: a figure with wide transparent margins."""
    out = Image.new("RGBA", canvas, (0, 0, 0, 0))
    out.paste(img.resize((120, 100)).convert("RGBA"), place)
    return out


def test_a_sticker_matches_its_copy_with_a_wider_transparent_margin():
    """Two transparent pictures are compared canvas to canvas: a figure filling a fifth of its
    canvas is the whole picture, and a copy with a wider margin covers all of it."""
    original = sticker(scene(1))
    wider = Image.new("RGBA", (296, 240), (0, 0, 0, 0))
    wider.paste(original, (20, 20))
    found = match(original, wider)
    assert found is not None and found.relation == "cropped"


def test_a_stickers_figure_alone_covers_little_of_an_opaque_picture():
    """Overlap, as the thumbnail check measures it: two stickers, canvas against canvas; a
    sticker against an opaque picture, only its figure (the same figure recoloured on another
    picture's plain ground matched under the canvas rule on a 20,000-post board)."""
    from curation.dedupe.keypoints import warped_agreement

    figure = sticker(scene(1))
    flat = Image.new("RGB", figure.size, (235, 230, 220))
    flat.paste(figure, (0, 0), figure)
    same_place = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    _, opaque_overlap, _ = warped_agreement(thumb(flat), thumb(figure), same_place, LIMITS)
    assert opaque_overlap == pytest.approx(120 * 100 / (256 * 200), abs=0.05) and opaque_overlap < LIMITS.min_overlap
    _, sticker_overlap, _ = warped_agreement(thumb(figure), thumb(figure), same_place, LIMITS)
    assert sticker_overlap > 0.9


def test_a_pair_only_its_keypoints_vouch_for_is_no_near_miss():
    """Painted over past what bars may cover: many keypoints at one size send the pair to the
    files though the thumbnails disagree; refused there, with neither the thumbnails nor the
    files agreeing broadly, it is no near miss (and inside a parent/child family no variant)."""
    from curation.dedupe.keypoints import coarse_match

    original = scene(1)
    spoiled = original.copy()
    draw = ImageDraw.Draw(spoiled)
    draw.rectangle([20, 20, 150, 120], fill=(0, 0, 0))
    draw.rectangle([120, 100, 240, 190], fill=(0, 0, 0))
    coarse = coarse_match(points(spoiled), points(original), thumb(spoiled), thumb(original), LIMITS)
    assert coarse is not None and not coarse.agreed and coarse.inliers >= LIMITS.edited_min_inliers
    files = (points(spoiled), points(original), thumb(spoiled), thumb(original), grey(spoiled), grey(original))
    assert check_pair(*files, LIMITS) is None


def test_a_region_cut_out_is_a_derivative_and_a_plain_margin_is_no_region():
    """A crop of the middle of a picture, enlarged back to its size, covers a third of the
    original's canvas, whose rest holds more picture: a ``derivative``. The picture on a plain
    canvas half as wide and high again covers as little of that canvas, but the rest is plain: a
    copy with a margin (``cropped``), no region of anything."""
    original = scene(2)
    w, h = original.size
    region = original.crop((round(0.2 * w), round(0.2 * h), round(0.8 * w), round(0.8 * h))).resize((w, h), Image.LANCZOS)
    found = match(region, original)
    assert found is not None and found.relation == "derivative"
    framed = Image.new("RGB", (round(1.6 * w), round(1.6 * h)), (235, 230, 220))
    framed.paste(original, (round(0.3 * w), round(0.3 * h)))
    found = match(original, framed)
    assert found is not None and found.relation == "cropped"


def test_a_region_cut_out_at_its_own_scale_matches_by_placement_when_no_keypoints_fit():
    """The middle 60% of each side, kept at the original's scale: when none of its keypoints fit
    (here: an unrelated picture's stand in for them), its thumbnail still sits in the original's
    where the native sizes say, and the files decide. A look-alike of the region (one shape
    recoloured) sits there as well and is refused by the files; without the placement route the
    region is not found at all."""
    from dataclasses import replace

    from curation.dedupe.align import AlignLimits

    original = scene(4, size=(320, 240))
    region = original.crop((64, 48, 256, 192))
    unrelated = points(scene(11, size=(192, 144)))
    pair = (unrelated, points(original), thumb(region), thumb(original), grey(region), grey(original))
    found = check_pair(*pair, LIMITS)
    assert isinstance(found, Match) and found.relation == "derivative" and found.inliers == 0
    assert abs(found.transform[0, 0] - 192 / 320) < 0.01  # the region's frame to the original's: native scale

    look_alike = region.copy()
    ImageDraw.Draw(look_alike).ellipse([90, 60, 104, 74], fill=(200, 30, 160), outline=(15, 15, 15), width=2)
    other = (unrelated, points(original), thumb(look_alike), thumb(original), grey(look_alike), grey(original))
    assert isinstance(check_pair(*other, LIMITS), NearMiss)  # its thumbnail sits there too: refused by the files

    no_placement = replace(LIMITS, placement=AlignLimits(min_area=0.5, flat_min_std=1.0))
    assert check_pair(*pair, no_placement) is None


def test_a_file_without_keypoints_still_gets_the_checks_that_need_none(tmp_path):
    """A crop whose shapes all touch its edges has no ORB keypoints (the catalog keeps none for
    it). The stage still hands it to the keypoint check, which places it inside its original at
    native scale: before, such a file was left out and every pair with it answered "no match"."""
    from curation.dedupe.keypoints import check_batch
    from curation.dedupe.stage import NO_KEYPOINTS, pair_files

    original = scene(4, size=(320, 240))
    region = original.crop((64, 48, 256, 192))
    paths = {0: str(tmp_path / "region.png"), 1: str(tmp_path / "original.png")}
    region.save(paths[0])
    original.save(paths[1])
    files = pair_files({0, 1}, {0: thumb(region), 1: thumb(original)}, {1: points(original)}, paths)
    assert set(files) == {0, 1} and len(files[0].points.xy) == 0 and files[0].points is NO_KEYPOINTS
    answers, read = check_batch([(0, 1)], files, WHITE, LIMITS)
    assert answers[0] is not None and decode(answers[0])[0] == "derivative" and read == 2
    left_out = {1: files[1]}  # what the stage passed before: no file for the keypoint-less row
    assert check_batch([(0, 1)], left_out, WHITE, LIMITS)[0] == [None]


def hatched_canvas(size=(256, 192)) -> Image.Image:
    """A flat yellow canvas with a few thin-striped shapes and a ring: little detail, and what
    there is aliases at thumbnail size."""
    w, h = size
    img = Image.new("RGB", size, (236, 188, 44))
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx + yy) % 6) < 3
    for x0, y0, side in ((150, 20, 34), (60, 120, 26)):
        inside = (xx >= x0) & (xx < x0 + side) & (yy >= y0) & (yy < y0 + side) & (xx - x0 > yy - y0 - side // 2)
        arr = np.asarray(img).copy()
        arr[inside & stripes] = (110, 60, 50)
        arr[inside & ~stripes] = (245, 235, 230)
        img = Image.fromarray(arr)
    d = ImageDraw.Draw(img)
    d.ellipse([170, 80, 222, 132], outline=(20, 20, 20), width=2)
    d.ellipse([182, 92, 210, 120], outline=(20, 20, 20), width=2)
    return img


def test_a_heavy_crop_of_thin_stripes_is_placed_to_a_fraction_of_a_pixel():
    """The middle 60% of each side of a near-flat canvas whose detail is thin stripes: at whole
    thumbnail pixels, unblurred, the crop correlates ~0.8 with its place (the stripes alias), and
    a placement a whole pixel off leaves the files several frame pixels apart. Placed on blurred
    thumbnails and refined to a quarter of a pixel, the files agree."""
    from curation.dedupe.align import native_placement

    original = hatched_canvas()
    region = original.crop((51, 38, 205, 153))  # 154 x 115: the synth's heavy crop of 256 x 192
    placed = native_placement(thumb(original), thumb(region), LIMITS.placement)
    assert placed is not None and placed[0] >= LIMITS.placement.threshold
    scale = 64 / 256  # thumbnail pixels per native pixel
    assert abs(placed[1] - 38 * scale) <= 0.3 and abs(placed[2] - 51 * scale) <= 0.3
    unrelated = points(scene(11, size=(154, 115)))
    found = check_pair(unrelated, points(original), thumb(region), thumb(original), grey(region), grey(original), LIMITS)
    assert isinstance(found, Match) and found.relation == "derivative"


def dotted(size=(512, 384), heart=(260, 140)) -> Image.Image:
    """A lattice of dots (the synth's polka dots: a tenth of the short side apart) with one small
    white shape: every dot's keypoint has a twin one period away."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    period = min(w, h) // 10
    on = ((xx % period - period / 2) ** 2 + (yy % period - period / 2) ** 2) > (period / 4) ** 2
    img = Image.fromarray(np.where(on[..., None], np.uint8([170, 214, 150]), np.uint8([140, 110, 200])).astype(np.uint8))
    x, y = heart
    ImageDraw.Draw(img).polygon([(x, y + 8), (x + 14, y), (x + 30, y + 8), (x + 16, y + 32)], fill=(250, 250, 250))
    return img


def test_a_crop_of_dots_resized_to_another_aspect_is_fitted_to_the_files():
    """A crop of a dotted picture (81% of the width, 83% of the height) resized back to the
    original's size: the keypoints' similarity fit is pixels off across the picture and the dots
    alias at thumbnail size, so the thumbnails come close (0.85-0.95) but not through; the files,
    fitted to their pixels, agree exactly. The same lattice with its shape elsewhere does not."""
    original = dotted()
    copy = original.crop((73, 41, 488, 360)).resize(original.size, Image.LANCZOS)
    found = match(copy, original)
    assert found is not None and found.relation == "cropped"
    axes = np.linalg.svd(found.transform[:, :2], compute_uv=False)
    assert axes[0] / axes[1] == pytest.approx((319 / 384) / (415 / 512), abs=0.01)
    assert match(copy, dotted(heart=(120, 250))) is None
    never_refined = KeypointLimits(refine_below=(2.0, 0.0, 0.0))
    assert (
        verify_pair(points(copy), points(original), thumb(copy), thumb(original), grey(copy), grey(original), never_refined)
        is None
    )


def heavily_censored(img: Image.Image) -> Image.Image:
    """Three black bars, two overlapping and one touching them, over a fifth of the picture."""
    out = img.copy()
    d = ImageDraw.Draw(out)
    w, h = img.size
    for box in ((0.45, 0.15, 0.62, 0.55), (0.44, 0.2, 0.66, 0.38), (0.21, 0.55, 0.61, 0.75)):
        d.rectangle([round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)], fill=(24, 24, 24))
    return out


def on_black(seed: int) -> Image.Image:
    """A few small shapes on a black canvas."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (256, 256), (24, 24, 24))
    d = ImageDraw.Draw(img)
    for _ in range(4):
        x, y = (int(v) for v in rng.integers(20, 200, 2))
        d.ellipse([x, y, x + 36, y + 36], fill=tuple(int(c) for c in rng.integers(80, 255, 3)))
    return img


def test_a_censored_copy_is_compared_in_place_beside_its_bars():
    """Bars over a fifth of the picture: in place, everything not black in one picture only
    agrees, so the pair is an `edited` match whatever its keypoints fit. Two drawings on black
    agree wherever both are black, and a look-alike with bars differs beside them: neither."""
    original = scene(1)
    copy = heavily_censored(original)
    found = censored_in_place(thumb(copy), thumb(original), grey(copy), grey(original), LIMITS)
    assert isinstance(found, Match) and found.relation == "edited"
    larger = original.resize((512, 400), Image.LANCZOS)  # the original at another size: the same canvas
    assert isinstance(censored_in_place(thumb(copy), thumb(larger), grey(copy), grey(larger), LIMITS), Match)

    look_alike = heavily_censored(original)
    ImageDraw.Draw(look_alike).ellipse([20, 130, 60, 170], fill=(200, 30, 160), outline=(15, 15, 15), width=2)
    assert not isinstance(censored_in_place(thumb(look_alike), thumb(original), grey(look_alike), grey(original), LIMITS), Match)
    assert censored_in_place(thumb(on_black(1)), thumb(on_black(2)), grey(on_black(1)), grey(on_black(2)), LIMITS) is None
    other_aspect = copy.crop((0, 0, 200, 200))
    assert censored_in_place(thumb(other_aspect), thumb(original), grey(other_aspect), grey(original), LIMITS) is None


def test_a_pair_whose_file_does_not_read_is_left_unjudged_and_asked_again(tmp_path):
    """A censored copy matches its original only once the files are read again. When one of
    them no longer reads (moved, or the catalog has no path for it), the batch answers
    ``UNJUDGED``, not "no match", and the stage keeps no answer for the next run to reuse."""
    from types import SimpleNamespace

    from curation.config import DedupeConfig
    from curation.dedupe.checks import PixelChecks
    from curation.dedupe.keypoints import UNJUDGED, PairFile, check_batch
    from curation.dedupe.stage import keypoint_edges
    from curation.processes import LazyPool

    original = scene(1)
    pictures = [original, censored(original)]
    for k, picture in enumerate(pictures):
        picture.save(tmp_path / f"{k}.png")
    files = {k: PairFile(thumb(p), points(p), str(tmp_path / f"{k}.png")) for k, p in enumerate(pictures)}
    assert check_batch([(0, 1)], files, WHITE, LIMITS)[0][0] > 0  # read: a match
    gone = {0: files[0], 1: PairFile(files[1].thumb, files[1].points, str(tmp_path / "moved.png"))}
    gone[2] = PairFile(thumb(scene(3)), points(scene(3)), str(tmp_path / "0.png"))
    # another picture's pair with the unreadable file, refused by the thumbnails, is judged
    assert check_batch([(0, 1), (1, 2)], gone, WHITE, LIMITS)[0] == [UNJUDGED, None]
    no_path = {0: files[0], 1: PairFile(files[1].thumb, files[1].points, None)}
    assert check_batch([(0, 1)], no_path, WHITE, LIMITS)[0] == [UNJUDGED]
    assert check_batch([(0, 0)], files, WHITE, LIMITS)[0][0] != UNJUDGED  # read fine: judged

    kept: dict[str, float | None] = {}

    class Remembered(PixelChecks):
        def known(self, keys):
            return {key: kept[key] for key in keys if key in kept}

        def add(self, key, score):
            kept[key] = score

    paths = {0: str(tmp_path / "0.png"), 1: str(tmp_path / "moved.png")}
    thumbs = SimpleNamespace(
        checks=Remembered(None),
        workers=LazyPool(0),
        of=lambda rows: {k: files[k].thumb for k in set(rows)},
        keypoints_of=lambda rows: {k: files[k].points for k in set(rows)},
        paths_of=lambda rows: {k: paths[k] for k in set(rows)},
    )
    t = SimpleNamespace(post_id=np.array([1, 2]), file_md5=np.array(["m0", "m1"], dtype=object), family=np.array([1, 2]))
    edges, _ = keypoint_edges(thumbs, t, [(0, 1)], [], DedupeConfig(), WHITE)
    assert edges == [] and kept == {}  # nothing kept: the next run asks again
    paths[1] = str(tmp_path / "1.png")  # the file is back
    edges, _ = keypoint_edges(thumbs, t, [(0, 1)], [], DedupeConfig(), WHITE)
    assert [(a, b, kind) for a, b, kind, *_ in edges] == [(1, 2, "edited")] and len(kept) == 1


def test_upright_fit_recovers_scale_and_shift_among_wrong_matches():
    rng = np.random.default_rng(4)
    mine = rng.uniform(0, 256, (40, 2)).astype(np.float32)
    theirs = 1.25 * mine + np.array([-20.0, 12.0], np.float32)
    theirs[28:] = rng.uniform(0, 256, (12, 2))  # 12 of 40 matched wrongly
    descriptors = rng.integers(0, 256, (40, 32), dtype=np.uint8)
    a, b = Keypoints(mine, descriptors), Keypoints(theirs, descriptors)
    matches = (np.arange(40), np.arange(40))
    transform, inliers, _ = upright_fit(a, b, LIMITS, matches)
    assert np.allclose(transform, [[1.25, 0, -20], [0, 1.25, 12]], atol=0.01) and 28 <= inliers <= 30
    assert np.array_equal(upright_fit(a, b, LIMITS, matches)[0], transform)  # seeded: the same every run
    assert upright_fit(a, b, LIMITS, (np.arange(5), np.arange(5))) is None  # too few matches


def test_a_half_turn_fitted_on_a_symmetric_shape_gives_way_to_scale_and_shift(monkeypatch):
    """Among few matches on a ring or a striped square, RANSAC can fit a half turn (held-out board
    G: a crop resized of a grey canvas whose one striped square fits one): when the thumbnails
    refuse the turn and agree with the same matches fitted without one, that fit is taken."""
    from curation.dedupe import keypoints

    original = scene(12)
    w, h = original.size
    copy = original.crop((round(0.08 * w), round(0.06 * h), round(0.9 * w), round(0.92 * h))).resize(original.size, Image.LANCZOS)
    pair = (points(copy), points(original), thumb(copy), thumb(original), grey(copy), grey(original), LIMITS)
    assert isinstance(check_pair(*pair), Match)
    half_turn = np.array([[-1.2, 0.0, 280.0], [0.0, -1.2, 230.0]])
    monkeypatch.setattr(keypoints, "fit_transform", lambda *args, **kwargs: (half_turn, 14, (0.02, 0.02)))
    monkeypatch.setattr(keypoints, "stretched_fit", lambda *args, **kwargs: half_turn)  # the affine fit turns too
    found = check_pair(*pair)
    assert isinstance(found, Match) and abs(found.transform[0, 1]) < 0.01 and found.transform[0, 0] > 0  # no turn
    monkeypatch.setattr(keypoints, "UPRIGHT_AFTER_TURN", 360.0)  # the upright fit never tried
    assert not isinstance(check_pair(*pair), Match)
    other = scene(13).crop((20, 12, 230, 184)).resize(original.size, Image.LANCZOS)  # another picture
    monkeypatch.setattr(keypoints, "UPRIGHT_AFTER_TURN", 1.0)
    assert not isinstance(check_pair(points(other), *pair[1:2], thumb(other), pair[3], grey(other), *pair[5:]), Match)
