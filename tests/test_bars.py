"""Bars painted over a copy (curation.dedupe.bars): the largest flat rectangle of a mask, black
bars found over detail, and what is not a bar (another colour, a flat place in both pictures, a
flat background around an object); a copy whose bars overlap, over a dark part of the picture,
matches its original as an edit."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from test_keypoints import LIMITS, grey, match, points, scene, thumb

from curation.dedupe.bars import largest_rectangle, painted_bars
from curation.dedupe.keypoints import KeypointLimits, verify_pair


def test_the_largest_rectangle_of_a_mask():
    mask = np.zeros((40, 50), bool)
    mask[5:15, 10:40] = True  # 10 x 30 = 300
    mask[15:35, 10:20] = True  # an L: the column below adds 20 x 10 = 200 more, not one rectangle
    assert largest_rectangle(mask) == (5, 10, 15, 40)
    mask[20:39, 25:48] = True  # 19 x 23 = 437, apart
    assert largest_rectangle(mask) == (20, 25, 39, 48)
    assert largest_rectangle(np.zeros((8, 8), bool)) == (0, 0, 0, 0)


def _detail(shape=(120, 160), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(60, 240, shape).astype(np.float32)


def test_black_bars_over_detail_are_found_and_other_flat_places_are_not():
    original = _detail()
    copy = original.copy()
    copy[20:40, 30:90] = 0.0  # two bars that overlap: together an L, not one rectangle
    copy[35:70, 70:90] = 0.0
    valid = np.ones(original.shape, bool)
    differ = np.abs(copy - original) > 20
    bars = painted_bars(copy, original, differ, valid, 3)
    assert bars[20:40, 30:90].all() and bars[35:70, 70:90].all()
    assert bars.sum() == 20 * 60 + 35 * 20 - 5 * 20
    assert not painted_bars(original, copy, differ, valid, 3).any()  # the original holds no bar

    grey_box = original.copy()
    grey_box[20:40, 30:90] = 66.0  # a flat rectangle of a drawn colour (a dress): not a bar
    assert not painted_bars(grey_box, original, np.abs(grey_box - original) > 20, valid, 3).any()

    flat = np.full((120, 160), 200, np.float32)
    hat = flat.copy()
    hat[20:40, 30:90] = 0.0
    other_hat = flat.copy()
    other_hat[20:40, 30:90] = 120.0  # both flat there: a look-alike's hat of another colour
    assert not painted_bars(hat, other_hat, np.abs(hat - other_hat) > 20, valid, 3).any()

    dark = np.zeros((120, 160), np.float32)  # a black canvas ...
    with_object = dark.copy()
    with_object[50:80, 50:80] = _detail((30, 30), seed=1)  # ... and the same with an object drawn on it
    differ = np.abs(dark - with_object) > 20
    assert not painted_bars(dark, with_object, differ, valid, 3).any()  # the canvas is no bar: little of it differs


def test_a_piece_of_an_overlapping_bar_over_plain_background_is_part_of_the_bar():
    """Two bars that overlap, one reaching past the figure over plain background: cut into
    rectangles, the piece over the plain part has no detail behind it, yet it is part of the
    bar found over the figure; the same black rectangle alone over plain background is not."""
    original = np.full((120, 160), 230, np.float32)
    original[30:90, 72:130] = _detail((60, 58), seed=2)  # a figure on a plain ground
    copy = original.copy()
    copy[40:80, 70:120] = 0.0  # a bar over the figure ...
    copy[30:50, 20:80] = 0.0  # ... and one overlapping it, reaching out over the plain ground
    valid = np.ones(original.shape, bool)
    bars = painted_bars(copy, original, np.abs(copy - original) > 20, valid, 3)
    assert bars[40:80, 70:120].all() and bars[30:50, 20:70].all()  # (a corner under MIN_BAR_AREA stays out)
    alone = original.copy()
    alone[30:50, 5:50] = 0.0  # a black box over plain ground only, touching no bar
    assert not painted_bars(alone, original, np.abs(alone - original) > 20, valid, 3).any()


def test_a_bar_piece_over_plain_ground_cut_out_first_joins_the_bar_found_after_it():
    """The piece of two overlapping bars that lies over plain ground is the larger rectangle,
    so it is cut out before the piece over the figure; with no detail behind it, it is held
    back until the bar over the figure is found, then joins it."""
    original = np.full((120, 200), 230, np.float32)
    original[20:100, 110:160] = _detail((80, 50), seed=6)  # a figure on a plain ground
    copy = original.copy()
    copy[40:70, 100:135] = 0.0  # a bar over the figure's edge ...
    copy[55:85, 20:105] = 0.0  # ... overlapping one over plain ground, larger than it
    valid = np.ones(original.shape, bool)
    bars = painted_bars(copy, original, np.abs(copy - original) > 20, valid, 3)
    assert bars[55:85, 20:105].all() and bars[40:70, 105:135].all()


def test_a_copy_with_overlapping_bars_over_a_dark_part_matches_as_an_edit():
    original = scene(1)
    draw = ImageDraw.Draw(original)
    draw.rectangle([30, 50, 110, 95], fill=(20, 20, 30))  # a dark part of the picture, under a bar
    copy = original.copy()
    draw = ImageDraw.Draw(copy)
    draw.rectangle([20, 60, 100, 84], fill=(0, 0, 0))
    draw.rectangle([80, 70, 104, 130], fill=(0, 0, 0))
    found = match(original, copy)
    assert found is not None and found.relation == "edited"
    assert found.correlation >= LIMITS.fine_threshold


def test_a_copy_under_bars_too_large_for_the_thumbnails_still_reaches_the_files():
    """Three bars over a fifth of the picture: the 64-pixel thumbnails disagree beyond the boxes
    they may leave out, but many keypoints fit one transform at one size, so the files are
    compared, where the bars are found and nothing else differs."""
    original = scene(1)
    copy = original.copy()
    draw = ImageDraw.Draw(copy)
    for box in [(10, 20, 120, 70), (140, 100, 250, 150), (30, 140, 110, 190)]:
        draw.rectangle(box, fill=(0, 0, 0))
    found = match(original, copy)
    assert found is not None and found.relation == "edited"
    thumbnails_only = KeypointLimits(edited_min_inliers=10**6)  # the files reached only when the thumbnails agree
    assert (
        verify_pair(points(original), points(copy), thumb(original), thumb(copy), grey(original), grey(copy), thumbnails_only)
        is None
    )


def _sky(seed: int = 3) -> np.ndarray:
    """(256, 256) float32: a sky graded from 110 to 230 grey top to bottom, a few clouds and a
    small dark shape on it, a little noise."""
    rng = np.random.default_rng(seed)
    sky = np.repeat(np.linspace(110, 230, 256, dtype=np.float32)[:, None], 256, axis=1)
    for x, y in rng.integers(30, 220, (5, 2)):
        sky[y - 8 : y + 8, x - 25 : x + 25] = 250.0
    sky[200:215, 140:155] = 60.0
    return sky + rng.normal(0, 1.5, sky.shape).astype(np.float32)


def test_bars_over_a_gradient_do_not_pull_the_grey_fit_off():
    """Large black bars over a sky graded top to bottom: a fit of gain and offset over every
    pixel is pulled so far that little agrees; fitted beside the pixels black on one side only,
    it recovers the copy's grey, and the files agree outside the bars."""
    from curation.dedupe.keypoints import _robust_gain_offset, fine_agreement
    from curation.dedupe.moments import line_fit

    original = _sky()
    copy = original.copy()
    for top, left, bottom, right in [(20, 30, 75, 140), (60, 110, 120, 200), (130, 20, 190, 90)]:
        copy[top:bottom, left:right] = 10.0
    x, y = copy.ravel().astype(np.float64), original.ravel().astype(np.float64)
    tolerance = 0.5 * y.std()
    plain = line_fit(x, y, np.ones(len(x), dtype=bool))[:2]
    assert (np.abs(y - (plain[0] * x + plain[1])) <= tolerance).mean() < 0.5  # the fit bars pull
    gain, offset = _robust_gain_offset(x, y, tolerance)
    assert abs(gain - 1) < 0.02 and abs(offset) < 3
    score = fine_agreement(copy, original, np.eye(2, 3), LIMITS)
    assert score is not None and score.boxes > 0.1
    assert score.passes(LIMITS, edited=True)


def _figure() -> np.ndarray:
    """(256, 192) float32: a drawn figure (body, face, hair, eyes) and a moon on a white ground."""
    img = Image.new("L", (192, 256), 255)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle([70, 70, 126, 180], 12, fill=71)
    draw.polygon([(60, 180), (136, 180), (126, 165), (70, 165)], fill=60)
    draw.ellipse([74, 50, 122, 98], fill=232, outline=40, width=2)
    draw.chord([72, 48, 124, 96], 180, 360, fill=92)
    draw.ellipse([88, 68, 96, 76], fill=30)
    draw.ellipse([100, 68, 108, 76], fill=30)
    draw.ellipse([140, 20, 160, 40], fill=120)
    return np.asarray(img, np.float32)


def test_bar_rims_do_not_tilt_the_grey_fit():
    """Large bars over a figure on white, both pictures blurred as the file comparison blurs
    them: the rims of the bars (greys between black and white) sit near a line of gain 0.8 and
    pull a fit that way, and a loose tolerance keeps it there; the fit that explains the most
    pixels closely is the copy's own grey (gain 1)."""
    import cv2

    from curation.dedupe.keypoints import BAR_GREY, _refitted, _robust_gain_offset
    from curation.dedupe.moments import line_fit

    original = _figure()
    copy = original.copy()
    for top, left, bottom, right in [(40, 80, 80, 170), (160, 40, 215, 125), (180, 70, 230, 150)]:
        copy[top:bottom, left:right] = 18.0
    x = cv2.GaussianBlur(copy, (0, 0), 1.5).ravel().astype(np.float64)
    y = cv2.GaussianBlur(original, (0, 0), 1.5).ravel().astype(np.float64)
    tolerance = 0.5 * y.std()
    beside = (x <= BAR_GREY) == (y <= BAR_GREY)
    tilted = _refitted(x, y, line_fit(x, y, beside)[:2], tolerance, 8)
    assert tilted[0] < 0.85  # refitting beside the black settles on the rims' slope
    gain, offset = _robust_gain_offset(x, y, tolerance)
    assert abs(gain - 1) < 0.02 and abs(offset) < 3


def test_thumbnails_that_agree_beside_black_vouch_for_a_censored_copy():
    """Bars that spoil the thumbnails' correlation: beside the pixels black in one only, a
    censored copy agrees with its original; another picture whose difference is no black bar
    does not."""
    from test_align import thumb as thumb_of

    from curation.dedupe.keypoints import agreement_beside_black, warped_agreement

    original = scene(4)
    copy = original.copy()
    draw = ImageDraw.Draw(copy)
    for box in [(20, 30, 120, 75), (150, 40, 240, 80), (40, 120, 110, 170)]:
        draw.rectangle(box, fill=(0, 0, 0))
    other = original.copy()
    ImageDraw.Draw(other).ellipse([60, 40, 200, 160], fill=(200, 120, 60))
    same_frame = np.eye(2, 3)
    spoiled = warped_agreement(thumb_of(copy), thumb_of(original), same_frame, LIMITS)
    assert spoiled is not None and spoiled[0] < LIMITS.threshold
    assert agreement_beside_black(thumb_of(copy), thumb_of(original), same_frame, LIMITS) >= LIMITS.threshold
    assert agreement_beside_black(thumb_of(other), thumb_of(original), same_frame, LIMITS) < LIMITS.threshold


def test_a_bar_partly_taken_for_a_filled_box_is_found_whole():
    """Two bars that touch, one over the figure (its differing pixels already put down to a
    filled box), one reaching out over plain ground: the box's pixels count as differing
    inside the first bar, so it is found, and the second joins it."""
    original = np.full((120, 160), 230, np.float32)
    original[30:90, 90:130] = _detail((60, 40), seed=5)  # a figure on a plain ground
    copy = original.copy()
    copy[30:90, 90:115] = 0.0  # a bar over the figure, taken for a filled box ...
    copy[30:42, 50:90] = 0.0  # ... and one touching it, over plain ground
    differ = np.abs(copy - original) > 20
    box = np.zeros_like(differ)
    box[30:90, 90:115] = differ[30:90, 90:115]
    valid = np.ones(original.shape, bool)
    assert not painted_bars(copy, original, differ & ~box, valid, 6).any()
    found = painted_bars(copy, original, differ & ~box, valid, 6, known=box)
    assert found[30:90, 90:115].all() and found[30:42, 50:90].all()


def test_a_copy_under_more_bars_than_boxes_reaches_the_files_beside_black():
    """Five small bars: more patches than the thumbnails' three boxes, and the route for many
    keypoints at one size is shut here; the thumbnails agree beside the black, so the files are
    compared, the bars found there, and the copy matches as an edit."""
    original = scene(4)
    copy = original.copy()
    draw = ImageDraw.Draw(copy)
    for box in [(10, 10, 60, 40), (190, 15, 245, 45), (100, 80, 150, 110), (15, 150, 70, 185), (180, 150, 240, 180)]:
        draw.rectangle(box, fill=(0, 0, 0))
    thumbnails_only = KeypointLimits(edited_min_inliers=10**6)
    found = verify_pair(points(copy), points(original), thumb(copy), thumb(original), grey(copy), grey(original), thumbnails_only)
    assert found is not None and found.relation == "edited"
