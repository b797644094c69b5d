"""Bars painted over a copy (curation.dedupe.bars): the largest flat rectangle of a mask, black
bars found over detail, and what is not a bar (another colour, a flat place in both pictures, a
flat background around an object); a copy whose bars overlap, over a dark part of the picture,
matches its original as an edit."""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw
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
