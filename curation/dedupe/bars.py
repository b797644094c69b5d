"""Bars painted over a copy: rectangles of one flat colour in one picture, over detail in the other.

A censored repost differs from its original only where bars were painted: in the copy those
places are one colour, edge to edge of an axis-aligned rectangle; in the original they hold the
picture. Bars that overlap or touch, or that cover a dark part of the picture, do not leave a
filled rectangle of differing pixels (where the picture was already near the bar's colour, the
two agree), so they are found here from the picture that holds them: the largest rectangles of
one flat colour that the differing pixels fall in. A rectangle counts only where the other
picture is not flat inside it: another drawing whose hat or box is a different flat colour
differs in a flat rectangle too, but both pictures are flat there (a rectangle of one black
shape with a bar already found is a bar too: overlapping bars cut into rectangles leave pieces
over plain background); and most of a bar differs, where a plain background around an object
one picture added differs only at the object. Only
black bars count (the censor's usual colour): drawn figures are full of flat rectangles of other
colours (a dress, a box) that a look-alike fills differently.
"""

from __future__ import annotations

import numba
import numpy as np

FLAT_TOLERANCE = 8.0  # grey levels a bar's pixels may stray from its colour (JPEG noise)
MAX_BAR_GREY = 24.0  # bars are black: drawn figures are full of flat rectangles of other colours
BAR_GREY = MAX_BAR_GREY + FLAT_TOLERANCE  # grey at or below which a pixel may belong to a black bar
MIN_BAR_SIDE = 6  # keypoint-frame pixels
MIN_BAR_AREA = 150  # keypoint-frame pixels (a bar of 3% of a 256 x 192 frame: ~1,500)
MIN_DETAIL_BEHIND = 12.0  # grey spread the other picture must show inside a bar
MIN_DIFFERING_INSIDE = 0.4  # share of a bar's pixels that differ (a bar over a dark part: not all)


@numba.njit(cache=True)
def largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), bottom and right exclusive, of the largest axis-aligned
    rectangle of True pixels in ``mask`` (h, w) bool; all zeros when there is none. The
    histogram-and-stack method: one pass over the rows, O(h w)."""
    h, w = mask.shape
    heights = np.zeros(w + 1, np.int64)  # heights[w] stays 0: it empties the stack at each row's end
    stack = np.zeros(w + 1, np.int64)
    best_area, best = 0, (0, 0, 0, 0)
    for r in range(h):
        for c in range(w):
            heights[c] = heights[c] + 1 if mask[r, c] else 0
        size = 0
        for c in range(w + 1):
            while size > 0 and heights[stack[size - 1]] >= heights[c]:
                height = heights[stack[size - 1]]
                size -= 1
                left = stack[size - 1] + 1 if size > 0 else 0
                if height * (c - left) > best_area:
                    best_area, best = height * (c - left), (r - height + 1, left, r + 1, c)
            stack[size] = c
            size += 1
    return best


def painted_bars(
    painted: np.ndarray,
    other: np.ndarray,
    differ: np.ndarray,
    valid: np.ndarray,
    max_bars: int,
    known: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w) bool: up to ``max_bars`` rectangles where ``painted`` (h, w) float32, a sharp grey
    picture, is one flat colour that the ``differ`` (h, w) bool pixels share, and ``other``
    (h, w) float32, the other picture on the same grid, shows detail, inside ``valid`` (h, w)
    bool (where both pictures are); all False when there are none. ``known`` (h, w) bool:
    differing pixels already put down to bars (filled rectangles), which count as differing
    inside a rectangle and as a bar it may join."""
    out = np.zeros(differ.shape, bool)
    if not differ.any():
        return out
    known = np.zeros_like(differ) if known is None else known
    differing = differ | known
    colour = float(np.median(painted[differ]))
    if colour > MAX_BAR_GREY:
        return out
    flat = (np.abs(painted - colour) <= FLAT_TOLERANCE) & valid
    if flat[differ].mean() < 0.5:  # most differing pixels are not of one colour here: no bar
        return out
    candidates, kept, looked = flat.copy(), 0, 0
    plain: list[tuple[slice, slice]] = []  # mostly differing, no detail behind: a bar's piece if it joins one
    while kept < max_bars and looked < 4 * max_bars:
        top, left, bottom, right = largest_rectangle(candidates)
        if (bottom - top) * (right - left) < MIN_BAR_AREA or min(bottom - top, right - left) < MIN_BAR_SIDE:
            break
        looked += 1
        box = (slice(top, bottom), slice(left, right))
        candidates[box] = False
        if differing[box].mean() < MIN_DIFFERING_INSIDE:
            continue
        if _joins(box, out, known) or float(other[box].std()) >= MIN_DETAIL_BEHIND:
            out[box] = True
            kept += 1
        else:
            plain.append(box)
    # a piece of the same black shape as a bar (bars that overlap make an L or a T, cut here into
    # rectangles) needs no detail of its own behind it: it may lie over plain background beside
    # the figure the rest of the bar hides, and it may be cut out before that rest is found
    joined = True
    while joined and plain and kept < max_bars:
        joined = False
        for box in list(plain):
            if kept < max_bars and _joins(box, out, known):
                out[box] = True
                kept += 1
                plain.remove(box)
                joined = True
    return out


def _joins(box: tuple[slice, slice], *masks: np.ndarray) -> bool:
    """Whether the rectangle ``box`` of an (h, w) grid touches or overlaps a True pixel of any of
    the (h, w) bool ``masks``."""
    rows, cols = box
    around = (slice(max(rows.start - 1, 0), rows.stop + 1), slice(max(cols.start - 1, 0), cols.stop + 1))
    return any(bool(mask[around].any()) for mask in masks)
