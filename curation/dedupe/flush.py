"""Copies at the original's scale: one picture is the other with a strip added along one side,
saved again, or a region of it cut out.

A caption strip above or below, a border on one side, a picture cut at one edge: the smaller
picture is the larger one's pixels at the same scale, flush against one of its edges and
exactly as wide (or as tall). Nothing needs searching: the native sizes leave two places it
can be, and one for two pictures of one size. Thumbnails placed there must nearly equal; then
the files, compared at native size where they overlap, must be the same pixels but for
re-encoding noise, and their shapes (every pixel on an edge) must agree nearly everywhere.

The keypoint fit cannot give this placement on a repeating pattern (a grid fitted a cell off
leaves 6% of the overlap differing within a pixel of its place); a plain canvas with one small
shape has too few keypoints to fit and too little detail at thumbnail size to slide; a grainy
near-flat picture saved at JPEG quality 10 differs in every 8 x 8 block by more than its spread
lets the keypoint check allow, yet its shapes stay where they were. A look-alike on the same
ground differs where its shapes are: on the synthetic boards the closest differs in 1.0% of
the overlap and 40% of its shape pixels, true copies in at most 0.45% and 6%
(docs/dedupe.md, "Flush copies").

A region cut out anywhere inside (a heavy crop) has no place its size leaves, but a grainy or
noisy canvas hides it from the other checks: the thumbnails average the grain away and no longer
place it, and ORB's keypoints sit on grain that each file's keypoint frame resamples its own way.
At native size the grain is the same pixels: the thumbnails find the neighbourhood, the files
the exact place, and the files are held to the flush copies' standard there (:func:`inside_copy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ..images.keypoints import KEYPOINT_SIDE
from .align import Thumb

NativeReader = Callable[[], "np.ndarray | None"]  # a file's native grey (height, width) uint8, None if it no longer reads


@dataclass(frozen=True)
class FlushLimits:
    """Where a flush copy may sit and how nearly the two pictures must agree there."""

    min_share: float = 0.5  # the smaller picture's share of the side the two do not share
    thumb_difference: float = 3.0  # mean deviation of the grey differences of the blurred thumbnails placed so
    thumb_blur: float = 0.8  # Gaussian radius (thumbnail pixels) of both thumbnails
    min_thumb_pixels: int = 150  # thumbnail pixels compared, at least
    blur: float = 1.0  # Gaussian radius (native pixels, after any reduction) of both files' greys
    tolerance: float = 12.0  # grey levels a pixel may differ by (re-encoding)
    max_differ: float = 0.005  # share of the overlap differing by more
    edge: float = 32.0  # a shape pixel: either side's Sobel magnitude (|dx| + |dy|) reaches this
    min_shape: int = 100  # shape pixels the overlap needs (a plain field tells nothing)
    max_shape_differ: float = 0.1  # share of the shape pixels that differ (JPEG at quality 10: up to 6%)
    min_correlation: float = 0.8  # of the two blurred greys: two grounds of noise agree within the tolerance,
    # yet do not correlate (a grainy picture at JPEG quality 10 still does to 0.91)
    min_inside_area: float = 0.25  # a region cut out anywhere inside (:func:`inside_copy`): its share of the other's area ...
    search: float = 2.0  # ... and the thumbnail pixels each way around the thumbnails' placement searched at native size


def flush_placements(inner: Thumb, outer: Thumb, limits: FlushLimits) -> list[tuple[int, int]]:
    """(y, x) native pixels of ``outer`` where opaque picture ``inner`` may sit flush: as wide and
    shorter (top or bottom), or as tall and narrower (left or right), keeping at least
    ``min_share`` of that side; of the same size, in place (a copy re-encoded). Empty for any
    other pair."""
    if inner.alpha is not None or outer.alpha is not None:
        return []
    if (inner.width, inner.height) == (outer.width, outer.height):
        return [(0, 0)]
    if inner.width == outer.width and limits.min_share * outer.height <= inner.height < outer.height:
        return [(0, 0), (outer.height - inner.height, 0)]
    if inner.height == outer.height and limits.min_share * outer.width <= inner.width < outer.width:
        return [(0, 0), (0, outer.width - inner.width)]
    return []


def thumbs_agree(inner: Thumb, outer: Thumb, y: int, x: int, limits: FlushLimits) -> bool:
    """Whether thumbnail ``inner`` placed at native (y, x) of ``outer`` nearly equals it there: the
    grey differences of both, blurred, at most ``thumb_difference`` from their mean on average
    (a copy saved again may come out a few levels lighter or darker all over)."""
    (hi, wi), (ho, wo) = inner.grey.shape, outer.grey.shape
    if (hi, wi) == (ho, wo) and (inner.width, inner.height) == (outer.width, outer.height):
        # in place (most candidate pairs that get here): no warp, the blurred thumbnails are kept
        difference = (inner.blurred(limits.thumb_blur) - outer.blurred(limits.thumb_blur))[1:-1, 1:-1]
        return difference.size >= limits.min_thumb_pixels and _spread(difference) <= limits.thumb_difference
    sx, sy = inner.width / wi * wo / outer.width, inner.height / hi * ho / outer.height
    tx, ty = x * wo / outer.width, y * ho / outer.height
    # pixel centres: thumbnail pixel k spans [k, k + 1) of its grid
    to_outer = np.array([[sx, 0.0, tx + 0.5 * sx - 0.5], [0.0, sy, ty + 0.5 * sy - 0.5]])
    placed = cv2.warpAffine(inner.grey.astype(np.float32), to_outer, (wo, ho), flags=cv2.INTER_LINEAR)
    coverage = cv2.warpAffine(np.ones((hi, wi), np.float32), to_outer, (wo, ho), borderValue=0.0)
    valid = cv2.erode((coverage > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if valid.sum() < limits.min_thumb_pixels:
        return False
    ours = cv2.GaussianBlur(placed, (0, 0), limits.thumb_blur)
    return _spread((ours - outer.blurred(limits.thumb_blur))[valid]) <= limits.thumb_difference


def files_agree(inner: np.ndarray, outer: np.ndarray, y: int, x: int, limits: FlushLimits) -> float | None:
    """The correlation of two files' native greys, ``inner`` (h, w) at (y, x) of ``outer``
    (H, W), when they are the same pixels there: at most ``max_differ`` of the overlap and
    ``max_shape_differ`` of its shape pixels differ by more than ``tolerance`` once both are
    blurred, and they correlate to ``min_correlation``. Large files are compared reduced (whole
    pixels, from the same grid). None when they differ, the sizes do not fit, or the overlap
    holds too few shapes to tell."""
    h, w = inner.shape
    region = outer[y : y + h, x : x + w]
    if region.shape != inner.shape:
        return None
    factor = max(1, max(h, w) // KEYPOINT_SIDE)
    a, b = (_reduced(g, factor) for g in (inner, region))
    a, b = (cv2.GaussianBlur(g, (0, 0), limits.blur) for g in (a, b))
    differ = np.abs(a - b) > limits.tolerance
    shape = (_edges(a) >= limits.edge) | (_edges(b) >= limits.edge)
    if shape.sum() < limits.min_shape or differ.mean() > limits.max_differ or differ[shape].mean() > limits.max_shape_differ:
        return None
    # not align.masked_correlation: its floor calls a canvas spreading under a grey level flat,
    # and a near-flat canvas with one small shape is what this check is for
    a, b = a - a.mean(), b - b.mean()
    correlation = float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-6))
    return correlation if correlation >= limits.min_correlation else None


@dataclass(frozen=True)
class FlushCopy:
    """One picture found flush inside the other: ``inner_first`` when it is the first of the pair."""

    inner_first: bool
    transform: np.ndarray  # (2, 3): the inner picture's keypoint frame to the outer one's
    correlation: float  # of the two files' greys where they overlap


def flush_copy(a: Thumb, b: Thumb, read_a: NativeReader, read_b: NativeReader, limits: FlushLimits) -> FlushCopy | None:
    """A :class:`FlushCopy` when one of two pictures is the other with a strip added along one
    side, or saved again at its size; else None (a file that no longer reads included). ``read_a``, ``read_b`` give each
    file's native grey; they are called only for pairs whose thumbnails agree."""
    orders = ((a, b, read_a, read_b, True), (b, a, read_b, read_a, False))
    for inner, outer, read_inner, read_outer, inner_first in orders[: 1 if (a.width, a.height) == (b.width, b.height) else 2]:
        for y, x in flush_placements(inner, outer, limits):
            if not thumbs_agree(inner, outer, y, x, limits):
                continue
            grey_inner = read_inner()
            grey_outer = read_outer() if grey_inner is not None else None
            if grey_outer is None:
                return None
            correlation = files_agree(grey_inner, grey_outer, y, x, limits)
            if correlation is not None:
                return _copy_at(inner, outer, y, x, correlation, inner_first)
    return None


def inside_copy(a: Thumb, b: Thumb, read_a: NativeReader, read_b: NativeReader, limits: FlushLimits) -> FlushCopy | None:
    """A :class:`FlushCopy` when one of two opaque pictures of different sizes is a region of the
    other cut out at its scale (at least ``min_inside_area`` of it), anywhere inside: the smaller
    thumbnail, drawn at the scale the native sizes imply, is placed where it differs least from
    the larger one and must nearly equal it there (:func:`thumbs_agree`); then the smaller file
    is slid over the larger at native size within ``search`` thumbnail pixels of that place
    (OpenCV's normalised cross-correlation) and the two must be the same pixels at the best
    place (:func:`files_agree`). Else None (a file that no longer reads included)."""
    if a.alpha is not None or b.alpha is not None or (a.width, a.height) == (b.width, b.height):
        return None
    if a.width <= b.width and a.height <= b.height:
        inner, outer, read_inner, read_outer, inner_first = a, b, read_a, read_b, True
    elif b.width <= a.width and b.height <= a.height:
        inner, outer, read_inner, read_outer, inner_first = b, a, read_b, read_a, False
    else:
        return None
    if inner.width * inner.height < limits.min_inside_area * outer.width * outer.height:
        return None
    near = thumb_placement(inner, outer, limits)
    if near is None or not thumbs_agree(inner, outer, *near, limits):
        return None
    grey_inner = read_inner()
    grey_outer = read_outer() if grey_inner is not None else None
    if grey_outer is None or grey_inner.shape != (inner.height, inner.width) or grey_outer.shape != (outer.height, outer.width):
        return None
    reach = math.ceil(limits.search * outer.width / outer.grey.shape[1])  # native pixels each way
    y, x = _slid(grey_inner, grey_outer, near, reach)
    factor = max(1, max(inner.height, inner.width) // KEYPOINT_SIDE)
    if factor > 1:
        # a large file was slid reduced (as files_agree compares it); the middle of the smaller
        # one, at native size, finds the whole pixel
        h, w = (min(s, KEYPOINT_SIDE) for s in grey_inner.shape)
        top, left = (grey_inner.shape[0] - h) // 2, (grey_inner.shape[1] - w) // 2
        dy, dx = _slid(grey_inner[top : top + h, left : left + w], grey_outer, (y + top, x + left), factor)
        y, x = dy - top, dx - left
    correlation = files_agree(grey_inner, grey_outer, y, x, limits)
    return None if correlation is None else _copy_at(inner, outer, y, x, correlation, inner_first)


def _slid(inner: np.ndarray, outer: np.ndarray, near: tuple[int, int], reach: int) -> tuple[int, int]:
    """(y, x) of ``outer`` (H, W) where ``inner`` (h, w) correlates best (OpenCV's normalised
    cross-correlation), within ``reach`` native pixels of ``near``. Files over ``KEYPOINT_SIDE``
    pixels are slid reduced by whole pixels (:func:`_reduced`), so the answer is then within a
    block of the best whole pixel."""
    factor = max(1, max(inner.shape) // KEYPOINT_SIDE)
    top, left = max(0, near[0] - reach), max(0, near[1] - reach)
    bottom = min(outer.shape[0], near[0] + reach + inner.shape[0])
    right = min(outer.shape[1], near[1] + reach + inner.shape[1])
    window, template = _reduced(outer[top:bottom, left:right], factor), _reduced(inner, factor)
    if window.shape[0] < template.shape[0] or window.shape[1] < template.shape[1]:
        return near
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, _, _, (x, y) = cv2.minMaxLoc(scores)
    return top + y * factor, left + x * factor


def thumb_placement(inner: Thumb, outer: Thumb, limits: FlushLimits) -> tuple[int, int] | None:
    """(y, x) native pixels of ``outer`` where thumbnail ``inner``, drawn at the scale the native
    sizes imply, differs least from ``outer``'s (sum of squared differences, both blurred); None
    when it would cover fewer than ``min_thumb_pixels`` thumbnail pixels."""
    oh, ow = outer.grey.shape
    scale = ow / outer.width
    w, h = min(ow, max(1, round(inner.width * scale))), min(oh, max(1, round(inner.height * scale)))
    if w * h < limits.min_thumb_pixels:
        return None
    drawn = np.asarray(Image.fromarray(inner.grey).resize((w, h), Image.Resampling.BOX), dtype=np.float32)
    drawn = cv2.GaussianBlur(drawn, (0, 0), limits.thumb_blur)
    scores = cv2.matchTemplate(outer.blurred(limits.thumb_blur), drawn, cv2.TM_SQDIFF)
    _, _, (x, y), _ = cv2.minMaxLoc(scores)
    return min(round(y / scale), outer.height - inner.height), min(round(x / scale), outer.width - inner.width)


def _copy_at(inner: Thumb, outer: Thumb, y: int, x: int, correlation: float, inner_first: bool) -> FlushCopy:
    """The :class:`FlushCopy` of ``inner`` found at native (y, x) of ``outer``, its transform
    between the two keypoint frames."""
    to_inner, to_outer = (KEYPOINT_SIDE / max(t.width, t.height) for t in (inner, outer))
    scale = to_outer / to_inner
    transform = np.array([[scale, 0.0, x * to_outer], [0.0, scale, y * to_outer]])
    return FlushCopy(inner_first, transform, correlation)


def _spread(difference: np.ndarray) -> float:
    """The mean absolute deviation of differences from their mean (a median costs ten times more,
    asked of most keypoint candidates)."""
    return float(np.abs(difference - difference.mean()).mean())


def _reduced(grey: np.ndarray, factor: int) -> np.ndarray:
    """(h // factor, w // factor) float32: means of factor x factor blocks."""
    if factor == 1:
        return np.ascontiguousarray(grey, dtype=np.float32)
    h, w = (s // factor * factor for s in grey.shape)
    return grey[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3), dtype=np.float32)


def _edges(grey: np.ndarray) -> np.ndarray:
    """(h, w) float32: |d/dx| + |d/dy| by Sobel."""
    return np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
