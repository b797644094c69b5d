"""Pixel alignment of two thumbnails: is one picture the other cut down, or padded out?

Crops, added borders and a transparent drawing reposted on a colour keep the pixels of the
original at the same scale; what changes is the canvas. Hashes of the whole picture move under
that (a crop of 10% of a side shifts every DCT coefficient), and embeddings of a simple drawing
move about as much as between two drawings of one layout. The pixels themselves do not: slide
the smaller picture over the larger at the scale their file sizes imply, and at the right
offset the two agree almost exactly. This module scores that agreement (the best normalised
cross-correlation of the grey thumbnails over every offset), only on opaque pixels when either
picture has transparency, so that the colour a transparent drawing was flattened on does not
count. It verifies pairs others propose (the embedding search, near-identical hashes of
near-flat pictures, mirror-image hash matches); it never searches a board.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numba
import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from . import moments
from .bars import BAR_GREY
from .moments import masked_correlation

SUBPIXEL = (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75)  # shifts (larger thumbnail's pixels) around the best whole one
REFINE_MARGIN = 0.25  # placements scoring this far below the threshold are not refined
PLACEMENT_MARGIN = 0.1  # the same for :func:`native_placement` (right ones score 0.88-0.90 before refining)
OPAQUE = 230  # thumbnail alpha at or above this counts as opaque (edges of a drawing blur when reduced)
DETAIL_RADIUS = 3.0  # thumbnail pixels: the blur whose removal leaves a near-flat picture's fine detail
OVERLAY_DIFF = 24.0  # grey levels (blurred thumbnails) by which a pixel under an added watermark differs


@dataclass(frozen=True)
class Thumb:
    """A post's grey thumbnail and the native size of the file it came from."""

    grey: np.ndarray  # (h, w) uint8: the picture (alpha flattened on the configured background)
    alpha: np.ndarray | None  # (h, w) uint8, or None for an opaque picture
    width: int  # the file's width and height in pixels
    height: int

    @cached_property
    def black(self) -> np.ndarray:
        """(h, w) bool: the pixels as dark as a black bar (kept: a thumbnail meets many candidates)."""
        return self.grey <= BAR_GREY

    @cached_property
    def black_share(self) -> float:
        return float(self.black.mean())

    def blurred(self, radius: float) -> np.ndarray:
        """(h, w) float32: the grey thumbnail under OpenCV's Gaussian blur of ``radius`` (kept per radius)."""
        kept = self.__dict__.setdefault("_blurred", {})
        if radius not in kept:
            kept[radius] = cv2.GaussianBlur(self.grey.astype(np.float32), (0, 0), radius)
            kept[radius].flags.writeable = False  # shared by every comparison of this thumbnail
        return kept[radius]

    def mirror(self) -> Thumb:
        """The thumbnail of the mirror image."""
        alpha = None if self.alpha is None else np.ascontiguousarray(self.alpha[:, ::-1])
        return Thumb(np.ascontiguousarray(self.grey[:, ::-1]), alpha, self.width, self.height)

    def turned(self, quarters: int) -> Thumb:
        """The thumbnail of the picture turned ``quarters`` x 90 degrees counterclockwise."""
        alpha = None if self.alpha is None else np.ascontiguousarray(np.rot90(self.alpha, quarters))
        width, height = (self.height, self.width) if quarters % 2 else (self.width, self.height)
        return Thumb(np.ascontiguousarray(np.rot90(self.grey, quarters)), alpha, width, height)


@dataclass(frozen=True)
class AlignLimits:
    """Which size relations may be a crop or a padded copy, and how alike the pixels must be.

    ``min_side`` bounds the share of each side the smaller picture keeps (a square letterbox of
    a 2:1 picture keeps half of one side), ``min_area`` the share of the area, ``slack`` the
    rounding allowed when the smaller side is nominally the same as the larger.
    """

    threshold: float = 0.95
    masked_threshold: float = 0.99  # when either picture is transparent: only its drawing is compared, and
    # different drawings of one figure agree more closely there than a crop's whole canvas does
    min_side: float = 0.45
    min_area: float = 0.5
    slack: float = 0.02
    min_std: float = 12.0  # grey-level spread the smaller picture needs (flat pictures align with anything)
    canvas_min_std: float | None = None  # the same for two canvases compared whole (no sliding); None: min_std
    min_pixels: int = 150  # compared pixels needed at an offset (thumbnail pixels)
    blur: float = 0.8  # Gaussian radius (thumbnail pixels) both sides get before the final comparison
    overlay_area: float = 0.0  # largest share of one canvas a watermark or caption may cover (0: none allowed)
    flat_min_std: float | None = None  # a smaller picture flatter than min_std slides too when above this ...
    flat_detail_threshold: float = 0.9  # ... and its fine detail must then correlate this well (a few shapes
    # on a plain ground; a gradient or a starry sky has none that agrees)


def contained_size(outer: Thumb, inner: Thumb, limits: AlignLimits) -> tuple[int, int] | None:
    """(w, h) of ``inner`` drawn at ``outer``'s thumbnail scale when ``inner`` may be a crop of
    ``outer`` (or ``outer`` ``inner`` with padding), or either is transparent and the other may
    be it flattened on a colour (the same canvas), else None."""
    kw, kh = inner.width / outer.width, inner.height / outer.height
    if kw > 1 + limits.slack or kh > 1 + limits.slack or min(kw, kh) < limits.min_side or kw * kh < limits.min_area:
        return None
    if kw > 1 - limits.slack and kh > 1 - limits.slack and outer.alpha is None and inner.alpha is None:
        return None  # the same opaque canvas: a re-encode or an edit, which hashes and embeddings judge
    oh, ow = outer.grey.shape
    scale = ow / outer.width
    w, h = min(ow, max(1, round(inner.width * scale))), min(oh, max(1, round(inner.height * scale)))
    return (w, h) if w * h >= limits.min_pixels else None


@numba.njit(cache=True, nogil=True)
def _best_correlation(
    outer: np.ndarray, outer_mask: np.ndarray, inner: np.ndarray, inner_mask: np.ndarray, min_pixels: int
) -> tuple[float, int, int]:
    """Highest normalised cross-correlation of ``inner`` (h, w) over every whole-pixel placement
    inside ``outer`` (H, W), counting only pixels opaque in both masks, and that placement's
    (dy, dx); -1 when no placement has ``min_pixels`` such pixels with some spread."""
    oh, ow = outer.shape
    ih, iw = inner.shape
    best, best_dy, best_dx = -1.0, 0, 0
    if outer_mask.all():
        return _best_correlation_in_opaque(outer, inner, inner_mask, min_pixels)
    for dy in range(oh - ih + 1):
        for dx in range(ow - iw + 1):
            n = 0
            sa = 0.0
            sb = 0.0
            saa = 0.0
            sbb = 0.0
            sab = 0.0
            for y in range(ih):
                for x in range(iw):
                    if inner_mask[y, x] and outer_mask[dy + y, dx + x]:
                        a = float(inner[y, x])
                        b = float(outer[dy + y, dx + x])
                        n += 1
                        sa += a
                        sb += b
                        saa += a * a
                        sbb += b * b
                        sab += a * b
            if n < min_pixels:
                continue
            va = saa - sa * sa / n
            vb = sbb - sb * sb / n
            if va <= n or vb <= n:  # below one grey level of spread: nothing to correlate
                continue
            r = (sab - sa * sb / n) / math.sqrt(va * vb)
            if r > best:
                best, best_dy, best_dx = r, dy, dx
    return best, best_dy, best_dx


def _blurred(grey: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(grey)).filter(ImageFilter.GaussianBlur(radius))) if radius else grey


@numba.njit(cache=True, nogil=True)
def _best_correlation_in_opaque(
    outer: np.ndarray, inner: np.ndarray, inner_mask: np.ndarray, min_pixels: int
) -> tuple[float, int, int]:
    """:func:`_best_correlation` inside an opaque ``outer``: the same pixels of ``inner`` count
    at every placement, so its sums are taken once (in the same order: the same to the bit)
    and each placement walks only those pixels."""
    oh, ow = outer.shape
    ih, iw = inner.shape
    best, best_dy, best_dx = -1.0, 0, 0
    ys = np.empty(ih * iw, np.int64)
    xs = np.empty(ih * iw, np.int64)
    values = np.empty(ih * iw, np.float64)
    n = 0
    sa = 0.0
    saa = 0.0
    for y in range(ih):
        for x in range(iw):
            if inner_mask[y, x]:
                a = float(inner[y, x])
                ys[n], xs[n], values[n] = y, x, a
                n += 1
                sa += a
                saa += a * a
    if n < min_pixels:
        return best, best_dy, best_dx
    va = saa - sa * sa / n
    if va <= n:
        return best, best_dy, best_dx
    for dy in range(oh - ih + 1):
        for dx in range(ow - iw + 1):
            sb = 0.0
            sbb = 0.0
            sab = 0.0
            for k in range(n):
                b = float(outer[dy + ys[k], dx + xs[k]])
                sb += b
                sbb += b * b
                sab += values[k] * b
            vb = sbb - sb * sb / n
            if vb <= n:
                continue
            r = (sab - sa * sb / n) / math.sqrt(va * vb)
            if r > best:
                best, best_dy, best_dx = r, dy, dx
    return best, best_dy, best_dx


def _refine(outer: Thumb, inner: Thumb, dy: int, dx: int, blur: float, min_pixels: int) -> float:
    """The best correlation at sub-pixel placements around the whole-pixel one (dy, dx)
    (:func:`_refined_placement`)."""
    return _refined_placement(outer, inner, dy, dx, blur, min_pixels)[0]


def _refined_placement(outer: Thumb, inner: Thumb, dy: int, dx: int, blur: float, min_pixels: int) -> tuple[float, float, float]:
    """(correlation, y, x): the best sub-pixel placement around the whole-pixel one (dy, dx): a crop
    of 10% of a side rarely falls on a whole thumbnail pixel, and a fraction of a pixel's shift
    of sharp outlines costs several hundredths of correlation. At each placement the smaller
    thumbnail is box-resampled onto the larger one's pixel grid from exactly the part that
    grid covers, so that both are reduced alike, and both are blurred by ``blur``: the two were
    reduced from different canvases, and what is left of that is aliasing of fine detail."""
    ratio = (outer.grey.shape[1] / outer.width) / (inner.grey.shape[1] / inner.width)  # outer px per inner px
    ih, iw = inner.grey.shape
    oh, ow = outer.grey.shape
    picture = Image.fromarray(inner.grey)
    opaque = None if inner.alpha is None else Image.fromarray(inner.alpha)
    outer_mask = _mask(outer)
    best, best_y, best_x = -1.0, float(dy), float(dx)
    blurred_outer = _blurred(outer.grey, blur)
    for fy in SUBPIXEL:
        for fx in SUBPIXEL:
            oy, ox = dy + fy, dx + fx  # where the smaller picture's top-left corner falls, in outer pixels
            y0, x0 = max(0, math.ceil(oy)) + 1, max(0, math.ceil(ox)) + 1  # whole outer pixels, less a rim
            y1, x1 = min(oh, math.floor(oy + ih * ratio)) - 1, min(ow, math.floor(ox + iw * ratio)) - 1
            if (y1 - y0) * (x1 - x0) < min_pixels:
                continue
            box = ((x0 - ox) / ratio, (y0 - oy) / ratio, (x1 - ox) / ratio, (y1 - oy) / ratio)
            mask = outer_mask[y0:y1, x0:x1]
            if opaque is not None:
                mask = mask & (np.asarray(opaque.resize((x1 - x0, y1 - y0), Image.Resampling.BOX, box=box)) >= OPAQUE)
            if opaque is not None or outer.alpha is not None:
                mask = ndimage.binary_erosion(mask, iterations=math.ceil(blur))  # the blur brings in the background
            if mask.sum() >= min_pixels:
                resampled = picture.resize((x1 - x0, y1 - y0), Image.Resampling.BOX, box=box)  # blurred as _blurred does
                grey = np.asarray(resampled.filter(ImageFilter.GaussianBlur(blur)) if blur else resampled)
                score = masked_correlation(blurred_outer[y0:y1, x0:x1], grey, mask)
                if score > best:
                    best, best_y, best_x = score, oy, ox
    return best, best_y, best_x


def _mask(thumb: Thumb, size: tuple[int, int] | None = None, rim: bool = False) -> np.ndarray:
    """(h, w) bool: opaque pixels of the thumbnail (resized to ``size`` when given); with
    ``rim``, the outermost rows and columns left out too (where the larger picture's
    reduction blends the edge of the smaller with the padding around it)."""
    if thumb.alpha is None:
        shape = thumb.grey.shape if size is None else (size[1], size[0])
        mask = np.ones(shape, dtype=np.bool_)
    else:
        alpha = thumb.alpha if size is None else np.asarray(Image.fromarray(thumb.alpha).resize(size, Image.Resampling.BOX))
        mask = alpha >= OPAQUE
    if rim:
        mask[[0, -1], :] = False
        mask[:, [0, -1]] = False
    return mask


def alignment(a: Thumb, b: Thumb, limits: AlignLimits) -> float | None:
    """Best correlation of the smaller picture placed inside the larger at the scale their
    native sizes imply; None when their sizes cannot be a crop or a padded copy of each other,
    or the smaller picture is too flat to tell."""
    outer, inner = (a, b) if a.width * a.height >= b.width * b.height else (b, a)
    size = contained_size(outer, inner, limits)
    if size is None:
        return None
    grey = np.asarray(Image.fromarray(inner.grey).resize(size, Image.Resampling.BOX))  # (h, w)
    mask = _mask(inner, size, rim=True)
    if mask.sum() < limits.min_pixels:
        return None
    spread = float(grey[mask].std())
    flat = spread < limits.min_std
    if flat and (limits.flat_min_std is None or spread < limits.flat_min_std):
        return None
    outer_mask = _mask(outer)
    score, dy, dx = _best_correlation(outer.grey, outer_mask, grey, mask, limits.min_pixels)
    if score < limits.threshold - REFINE_MARGIN:
        return None if flat else float(score)
    if flat and _detail_correlation(outer.grey[dy : dy + grey.shape[0], dx : dx + grey.shape[1]], grey, mask) < (
        limits.flat_detail_threshold
    ):
        return None
    return _refine(outer, inner, dy, dx, limits.blur, limits.min_pixels)


def native_placement(outer: Thumb, inner: Thumb, limits: AlignLimits) -> tuple[float, float, float] | None:
    """(correlation, y, x): opaque picture ``inner`` placed inside opaque ``outer`` at the scale
    their native sizes imply, its top-left corner at (y, x) of ``outer``'s thumbnail, placement
    and correlation refined to a quarter of a pixel; None when either is transparent, their
    sizes cannot be a crop, or ``inner`` is too flat to tell. The same question as
    :func:`alignment`, asked of many more pairs (every keypoint candidate the keypoints could
    not fit), so the whole-pixel search is OpenCV's normalised template match, on both
    thumbnails blurred as the refined comparison blurs them (thin stripes alias at whole
    pixels: a heavy crop scoring 0.77 there comes to 0.98 refined)."""
    if outer.alpha is not None or inner.alpha is not None:
        return None
    size = contained_size(outer, inner, limits)
    if size is None:
        return None
    grey = np.asarray(Image.fromarray(inner.grey).resize(size, Image.Resampling.BOX), dtype=np.float32)
    template = grey[1:-1, 1:-1]  # the rim blends with what surrounds the crop in the larger reduction
    spread = moments.spread(template)
    flat = spread < limits.min_std
    if template.size < limits.min_pixels or (flat and (limits.flat_min_std is None or spread < limits.flat_min_std)):
        return None
    image = outer.blurred(limits.blur)  # OpenCV's blur: this search is asked of every keypoint candidate with
    # no fit, and only gates the sub-pixel comparison
    scores = cv2.matchTemplate(image, cv2.GaussianBlur(grey, (0, 0), limits.blur)[1:-1, 1:-1], cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(scores)
    if best >= limits.threshold - PLACEMENT_MARGIN:  # OpenCV may score a flat window +-1: leave those out
        th, tw = template.shape
        window_var = cv2.boxFilter(image * image, -1, (tw, th), normalize=True, anchor=(0, 0))
        window_var -= cv2.boxFilter(image, -1, (tw, th), normalize=True, anchor=(0, 0)) ** 2
        scores[window_var[: scores.shape[0], : scores.shape[1]] < 1.0] = -1.0
        _, best, _, (x, y) = cv2.minMaxLoc(scores)
    if best < limits.threshold - PLACEMENT_MARGIN:
        return None
    dy, dx = y - 1, x - 1
    h, w = grey.shape
    window = outer.grey[max(dy, 0) : dy + h, max(dx, 0) : dx + w]
    if flat and (
        window.shape != grey.shape
        or _detail_correlation(window, grey, _mask(inner, size, rim=True)) < limits.flat_detail_threshold
    ):
        return None
    return _refined_placement(outer, inner, dy, dx, limits.blur, limits.min_pixels)


def _detail_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Correlation of the fine detail of two (h, w) grey thumbnails placed on one another: each
    less its blur at ``DETAIL_RADIUS`` (what is left of a gradient or a vignette is nothing),
    both then blurred a little, over ``mask`` (h, w) bool shrunk by a pixel; -1 when either has
    almost none. Two near-flat pictures whose grey spread is a sky's gradient correlate highly
    at any placement; their few shapes or stars do not."""
    x, y = (g.astype(np.float32) for g in (a, b))
    x, y = (ndimage.gaussian_filter(g - ndimage.gaussian_filter(g, DETAIL_RADIUS), 0.8) for g in (x, y))
    inner = ndimage.binary_erosion(mask)
    return masked_correlation(x, y, inner) if inner.any() else -1.0


def same_aspect(width_a: int, height_a: int, width_b: int, height_b: int, slack: float = 0.02) -> bool:
    """Whether two pictures' aspect ratios agree within ``slack`` (one canvas, perhaps resized)."""
    return abs(int(width_a) * int(height_b) - int(width_b) * int(height_a)) <= slack * width_a * height_b


def same_canvas(a: Thumb, b: Thumb, limits: AlignLimits) -> float | None:
    """Correlation of two pictures of one aspect ratio (a copy, re-encode or resize), both
    thumbnails box-reduced to the smaller one's size and blurred by ``limits.blur``; None when
    the aspect ratios differ by more than ``limits.slack`` or the pictures are flat."""
    if not same_aspect(a.width, a.height, b.width, b.height, limits.slack):
        return None
    small, large = (a, b) if a.grey.size <= b.grey.size else (b, a)
    size = (small.grey.shape[1], small.grey.shape[0])
    grey = np.asarray(Image.fromarray(large.grey).resize(size, Image.Resampling.BOX))
    mask = _mask(small, rim=True) & _mask(large, size, rim=True)
    min_std = limits.min_std if limits.canvas_min_std is None else limits.canvas_min_std
    if mask.sum() < limits.min_pixels or small.grey[mask].std() < min_std:
        return None
    a, b = _blurred(small.grey, limits.blur), _blurred(grey, limits.blur)
    score = masked_correlation(a, b, mask)
    if score < limits.threshold and limits.overlay_area > 0:
        rest = _outside_overlay(a, b, mask, limits.overlay_area)
        if rest is not None and rest.sum() >= limits.min_pixels:
            score = max(score, masked_correlation(a, b, rest))
    return score


def _outside_overlay(a: np.ndarray, b: np.ndarray, mask: np.ndarray, max_area: float) -> np.ndarray | None:
    """``mask`` (h, w) less the one box where two (h, w) thumbnails of one canvas differ, when
    their differences all fall in a box of at most ``max_area`` of the canvas: a watermark, a
    caption or a logo laid over a copy changes one compact patch and leaves the rest as it was.
    None when they do not differ or differ more widely."""
    changed = (np.abs(a.astype(np.float32) - b.astype(np.float32)) > OVERLAY_DIFF) & mask
    if not changed.any():
        return None
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 2, cols[0], cols[-1] + 2  # one pixel more: the blur's edge
    y0, x0 = max(0, y0 - 1), max(0, x0 - 1)
    if (y1 - y0) * (x1 - x0) > max_area * mask.size:
        return None
    rest = mask.copy()
    rest[y0:y1, x0:x1] = False
    return rest


def agreement(a: Thumb, b: Thumb, limits: AlignLimits) -> float | None:
    """:func:`same_canvas` for pictures of one aspect ratio, and :func:`alignment` when that is
    not enough (another aspect ratio, or a square picture padded to a larger square): the
    better of the two."""
    score = same_canvas(a, b, limits)
    if score is not None and score >= limits.threshold:
        return score
    inside = alignment(a, b, limits)
    if inside is None:
        return score
    return inside if score is None else max(score, inside)


def turned_scores(
    thumbs: dict[int, Thumb], candidates: list[tuple[int, int, int]], limits: AlignLimits
) -> dict[tuple[int, int, int], float | None]:
    """(i, j, quarters) -> the :func:`agreement` of thumbnail i turned ``quarters`` x 90 degrees
    with thumbnail j when it reaches ``limits.threshold`` (``masked_threshold`` when either is
    transparent), else None; pairs missing a thumbnail are left out."""
    out: dict[tuple[int, int, int], float | None] = {}
    for i, j, quarters in candidates:
        if i not in thumbs or j not in thumbs:
            continue
        score = agreement(thumbs[i].turned(quarters), thumbs[j], limits)
        masked = thumbs[i].alpha is not None or thumbs[j].alpha is not None
        passed = score is not None and score >= (limits.masked_threshold if masked else limits.threshold)
        out[(i, j, quarters)] = score if passed else None
    return out


def aligned_pairs(
    thumbs: dict[int, Thumb], candidates: list[tuple[int, int]], limits: AlignLimits, same_canvas_too: bool = False
) -> list[tuple[int, int, float]]:
    """(i, j, correlation) for the candidate pairs (keys of ``thumbs``) that align at or above
    ``limits.threshold`` (``limits.masked_threshold`` when either is transparent); with
    ``same_canvas_too``, pictures of one aspect ratio are also compared whole (:func:`agreement`:
    a resize), else only one inside the other (:func:`alignment`)."""
    compare = agreement if same_canvas_too else alignment
    out = []
    for i, j in candidates:
        if i not in thumbs or j not in thumbs:
            continue
        score = compare(thumbs[i], thumbs[j], limits)
        masked = thumbs[i].alpha is not None or thumbs[j].alpha is not None
        if score is not None and score >= (limits.masked_threshold if masked else limits.threshold):
            out.append((i, j, score))
    return out
