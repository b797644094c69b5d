"""Keypoints: is one picture another cut down, rescaled, turned a little, or painted over in places?

A crop of the middle 60% of a picture, a crop then resized, a repost turned by a few degrees, a
copy with censor bars: hashes of the whole picture move, and the sliding alignment of
:mod:`.align` needs both at the scale their file sizes imply and no turn. Corners and blobs of
the drawing do not move with the canvas. Each file keeps up to ``MAX_KEYPOINTS`` ORB keypoints
(:mod:`curation.images.keypoints`); a candidate pair goes through three checks, each dearer
than the last and each refusing most of what reaches it:

1. the keypoints are matched (Hamming distance, Lowe's ratio test) and fitted with one
   similarity transform by RANSAC, its scale bounded (an unbounded fit can fold unrelated
   pictures onto one spot), the inliers spread over more than one small shape;
2. the catalog's grey thumbnails, warped onto each other, must overlap over much of the smaller
   picture and correlate there (up to ``max_boxes`` boxes left out when bars spoil them);
3. the two files are read again at ``KEYPOINT_SIDE`` pixels and compared under the transform:
   few blobs of differing pixels (flat rectangles and black bars painted over one of them
   aside, :mod:`.bars`), few edges without a partner;
4. a pair that falls just short there, one picture inside the other, has its transform refined
   on the pixels (an affine fit: a crop resized to another aspect stretches one axis) and is
   compared again, held to fewer differing pixels;
5. one still short but close is compared once more with one picture's hue turned by the small
   angle that best explains the other's grey (:mod:`.recolour`: a turned hue moves each colour's
   grey its own way).

The third check is what tells a repost from another drawing that reuses the same figure in the
same place with a changed mouth or an added object: at thumbnail size those are a few pixels.

A pair these leave apart is also compared where its sizes say it must lie, without keypoints:
on its original's canvas beside black (a censored copy), flush against one edge or in place
(a caption strip, a border on one side, a copy saved again: :mod:`.flush`), and inside the
other at the scale the native sizes imply (a region cut out, when no keypoints fit: by its
thumbnail, then, on a grainy canvas the thumbnails cannot place, by its native pixels).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..images.keypoints import KEYPOINT_SIDE, Keypoints
from .align import OPAQUE, AlignLimits, Thumb, masked_correlation, native_placement, same_aspect
from .bars import BAR_GREY, painted_bars
from .flush import FlushCopy, FlushLimits, flush_copy, inside_copy
from .moments import line_fit, within
from .recolour import turned_grey
from .reread import GreyFile

REFITS = 8  # gain-and-offset refits at most beside black pixels, each on the pixels the last one explains
CLOSE = 0.25  # share of the tolerance within which a pixel counts as closely explained when fits are compared

log = logging.getLogger(__name__)
STRETCH_TRIALS = 500  # RANSAC samples at most for a stretched fit (a true one: most matches fit it)
MAX_STRETCH_SHEAR = 0.05  # cosine of the angle between a stretched fit's axes (0: square)
UPRIGHT_TRIALS = 200  # RANSAC samples (pairs of matches) for a fit of scale and shift alone ...
UPRIGHT_AFTER_TURN = 1.0  # ... tried when the similarity fit turns by more degrees than this and fails
RATIO_TEST = 0.8  # a match must be this much nearer than the second best (Lowe)
DERIVATIVE_AREA = 0.6  # a picture covering less of the other's canvas than this is a region of it ...
PLAIN_MARGIN = 4.0  # ... when the rest spreads at least this many grey levels (not a plain margin)


@dataclass(frozen=True)
class KeypointLimits:
    """What a pair needs to count as one picture: matched keypoints under one similarity
    transform, thumbnails that agree once warped by it, then the two files' grey pictures
    (``KEYPOINT_SIDE`` on the long side) that agree closely: few pixels and few edges that the
    transform does not explain."""

    min_inliers: int = 6
    small_min_inliers: int = 10  # matches on one small shape need this many inliers (and more, below)
    min_spread: float = 0.05  # the share of a picture the fitted matches' bounding box covers (the larger of the two)
    min_scale: float = 0.3  # the transform's scale (frame to frame) is bounded to this ...
    max_scale: float = 3.3  # ... and this
    ransac_error: float = 5.0  # keypoint-frame pixels a match may miss the transform by
    min_overlap: float = 0.5  # share of the smaller picture the other covers once warped
    threshold: float = 0.95  # correlation of the warped grey thumbnails over the overlap
    edited_threshold: float = 0.95  # the same outside the boxes left out, when some are
    max_boxes: int = 3  # bars, a caption: compact patches where the two thumbnails differ ...
    max_box_area: float = 0.3  # ... covering at most this share of the overlap together
    max_bars: int = 6  # black rectangles found in the files (overlapping bars are cut into several)
    blur: float = 0.8  # Gaussian radius (thumbnail pixels) both sides get before they are compared
    min_pixels: int = 150  # overlapping thumbnail pixels needed
    fine_blur: float = 1.5  # Gaussian radius (keypoint-frame pixels) of the files' grey pictures
    fine_threshold: float = 0.9  # their correlation over the overlap, after a gain and offset
    max_unexplained: float = 0.015  # share of the overlap in blobs where they differ (flat boxes aside)
    max_unmatched_edges: float = 0.3  # share of one picture's edges with no edge of the other near
    max_unmatched_edges_worse: float = 0.3  # the same of the picture with more edges the other lacks
    residual: float = 0.5  # a pixel differs when it misses the gain-and-offset fit by this many grey spreads
    refine_iterations: int = 30  # of the pixel-level fit (ECC) tried when the keypoints' fit falls short ...
    refine_below: tuple[float, float, float] = (0.85, 0.15, 0.45)  # ... but close: correlation, unexplained, edges_worse
    max_refine_shift: float = 24.0  # keypoint-frame pixels a corner may move from the keypoints' fit to the refined one
    max_anisotropy: float = 1.35  # a refined fit may stretch one axis this much more than the other (a crop resized)
    min_contained: float = 0.9  # share of the smaller picture inside the other, needed when the fit was refined ...
    max_refined_unexplained: float = 0.004  # ... and the stricter max_unexplained then: registration error is gone
    max_resampled_unexplained: float = 0.012  # the refined and edited limits give way to this when a shift of a pixel
    # explains nearly all of the difference:
    max_unshifted: float = 0.0002  # share of the overlap differing from every pixel within one of the fitted place
    pattern_max_edges: float = 0.1  # a pair sent on by thumbnails that came close is fitted to the files' pixels only
    # when nearly every edge has a partner (dots a few pixels off: 3%; look-alikes: 20-40%)
    max_registered_unexplained: float = 0.06  # under a refined fit (no bars), what a shift explains may reach this:
    # thin lines resampled by a small turn (a grid background: 1.7-5.2%); no look-alike comes within 3x max_unshifted
    max_edited_unexplained: float = 0.012  # max_unexplained when the thumbnails agreed only outside boxes ...
    edited_min_inliers: int = 20  # ... or did not agree, but this many keypoints fit one transform ...
    edited_max_rescale: float = 0.05  # ... frame to frame scale within this of 1 (one canvas, bars painted on it)
    min_censored: float = 0.02  # share of a canvas black in one picture only, for a censored copy in place ...
    censor_margin: int = 5  # ... and the keypoint-frame pixels that black is grown by (blur, JPEG rings)
    # a region cut out at the original's scale, placed by its thumbnail when no keypoints fit; near-flat
    # ones too, with no fine-detail rule: the files decide here, where the alignment's thumbnails alone do
    placement: AlignLimits = AlignLimits(min_area=0.25, flat_min_std=1.0, flat_detail_threshold=-1.0)
    flush: FlushLimits = FlushLimits()  # a strip added along one side, or saved again in place (:mod:`.flush`)
    recolour_below: float = 0.16  # a refined fit leaving at most this share differing is compared in colour ...
    max_hue_turn: float = 20.0  # ... one picture's hue turned by at most this many degrees (:mod:`.recolour`) ...
    recoloured_share: float = 0.5  # ... and passes as a refined fit leaving at most this share of what grey left


@dataclass(frozen=True)
class NearMiss:
    """A pair whose thumbnails or files agree broadly, refused at the file comparison (step 3 or
    4): what it would have been and the share of its overlap in differing blobs under the
    closest fit tried; shown on the contact sheets as the pairs just below the threshold (a
    ``variant`` edge inside a parent/child family)."""

    relation: str
    unexplained: float


@dataclass(frozen=True)
class Match:
    """A verified pair: the transform (2, 3) between the two keypoint frames (from the picture
    whose keypoints were matched in the other's), its inliers and the pixel score; ``relation``
    names what one is of the other."""

    transform: np.ndarray
    inliers: int
    correlation: float
    relation: str  # cropped | derivative | rotated | edited | resized


def good_matches(a: Keypoints, b: Keypoints) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The keypoint matches that pass Lowe's ratio test (the nearest descriptor, by Hamming
    distance, clearly nearer than the second): ((indices into a, into b) of a's keypoints
    matched in b, (indices into b, into a) of b's matched in a)."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(a.descriptors) < 2 or len(b.descriptors) < 2:
        return empty, empty
    return _ratio_test(a.descriptors, b.descriptors), _ratio_test(b.descriptors, a.descriptors)


def _ratio_test(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``a`` (n, 32) whose nearest row of ``b`` (m, 32) passes the ratio test, that row)."""
    distance, nearest = cv2.batchDistance(a, b, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2)
    rows = np.flatnonzero(distance[:, 0] < RATIO_TEST * distance[:, 1])
    return rows, nearest[rows, 0].astype(np.int64)


def fit_transform(
    a: Keypoints, b: Keypoints, limits: KeypointLimits, matches: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, int, tuple[float, float]] | None:
    """(the similarity transform (2, 3) taking a's keypoint frame to b's, its inlier count, the
    area of the inliers' bounding box in a's frame and in b's, each over the frame's), or None
    when too few keypoints match under one transform of bounded scale. ``matches``: a's good
    matches in b (:func:`good_matches`) when already found."""
    mine, theirs = good_matches(a, b)[0] if matches is None else matches
    if len(mine) < limits.min_inliers:
        return None
    transform, mask = cv2.estimateAffinePartial2D(
        a.xy[mine], b.xy[theirs], method=cv2.RANSAC, ransacReprojThreshold=limits.ransac_error
    )
    if transform is None:
        return None
    scale = math.hypot(transform[0, 0], transform[1, 0])
    inliers = int(mask.sum())
    if not limits.min_scale <= scale <= limits.max_scale or inliers < limits.min_inliers:
        return None
    inlier = mask.ravel().astype(bool)
    spread = tuple(float(np.prod(np.ptp(xy[inlier], axis=0))) / KEYPOINT_SIDE**2 for xy in (a.xy[mine], b.xy[theirs]))
    return transform, inliers, spread


def warped_agreement(a: Thumb, b: Thumb, transform: np.ndarray, limits: KeypointLimits) -> tuple[float, float, bool] | None:
    """(correlation, overlap, edited) of thumbnail ``a`` warped by ``transform`` (keypoint frame
    to keypoint frame) onto thumbnail ``b``: the correlation of the blurred grey pixels where
    both are (opaque in ``b``), the share of the smaller picture that overlap covers (of the
    smaller canvas when both are transparent), and whether boxes where the two differ were left
    out to reach the correlation. None when they hardly overlap."""
    warped = _warp_thumbs(a, b, transform, limits)
    return None if warped is None else _agreement(warped, limits)


def _agreement(warped: tuple, limits: KeypointLimits) -> tuple[float, float, bool]:
    """:func:`warped_agreement` of thumbnails already warped (:func:`_warp_thumbs`)."""
    ours, theirs, valid, overlap = warped
    score = masked_correlation(ours, theirs, valid)
    if score >= limits.threshold or not limits.max_boxes:
        return score, overlap, False
    rest = _outside_boxes(ours, theirs, valid, limits)
    if rest is None:
        return score, overlap, False
    edited = masked_correlation(ours, theirs, rest)
    return (edited, overlap, True) if edited >= limits.edited_threshold else (score, overlap, False)


def agreement_beside_black(a: Thumb, b: Thumb, transform: np.ndarray, limits: KeypointLimits) -> float | None:
    """The correlation of thumbnail ``a`` warped by ``transform`` onto thumbnail ``b`` (as in
    :func:`warped_agreement`) over the pixels black in neither or in both (and not next to one
    black in one only): what agrees beside black bars painted over one of them, however many.
    None when they hardly overlap there or the black covers more than ``max_box_area``."""
    warped = _warp_thumbs(a, b, transform, limits)
    return None if warped is None else _beside_black(warped, limits)


def _beside_black(warped: tuple, limits: KeypointLimits) -> float | None:
    """:func:`agreement_beside_black` of thumbnails already warped (:func:`_warp_thumbs`)."""
    ours, theirs, valid, _ = warped
    black_in_one = ((ours <= BAR_GREY) != (theirs <= BAR_GREY)).astype(np.uint8)
    if (valid & cv2.dilate(black_in_one, np.ones((3, 3), np.uint8)).astype(bool)).sum() > limits.max_box_area * valid.sum():
        return None
    rest = valid & ~cv2.dilate(black_in_one, np.ones((7, 7), np.uint8)).astype(bool)  # the blur spreads a bar's edge
    if rest.sum() < limits.min_pixels:
        return None
    return masked_correlation(ours, theirs, rest)


def _warp_thumbs(
    a: Thumb, b: Thumb, transform: np.ndarray, limits: KeypointLimits
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """(a's grey thumbnail warped onto b's (h, w) float32, b's (h, w) float32, both blurred by
    ``limits.blur``; the (h, w) bool pixels where both are (opaque in b); the share of the
    smaller picture they cover), or None when they overlap in fewer than ``min_pixels``."""
    to_b = _thumb_transform(a, b, transform)
    h, w = b.grey.shape
    warped = cv2.warpAffine(a.grey.astype(np.float32), to_b, (w, h), flags=cv2.INTER_LINEAR)
    coverage = cv2.warpAffine(np.ones(a.grey.shape, np.float32), to_b, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    covered = cv2.erode((coverage > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    valid = covered & (b.alpha >= OPAQUE) if b.alpha is not None else covered
    if valid.sum() < limits.min_pixels:
        return None
    scale = math.hypot(to_b[0, 0], to_b[1, 0])
    # two stickers' canvases overlap margins and all (a figure is often a fifth of its canvas);
    # against an opaque picture only a sticker's figure counts: one figure is not the picture
    both_transparent = a.alpha is not None and b.alpha is not None
    overlap = float((covered if both_transparent else valid).sum() / min(a.grey.size * scale * scale, b.grey.size))
    ours = cv2.GaussianBlur(warped, (0, 0), limits.blur)
    theirs = b.blurred(limits.blur)  # kept on the thumbnail: b meets many candidates
    return ours, theirs, valid, overlap


def _thumb_transform(a: Thumb, b: Thumb, transform: np.ndarray) -> np.ndarray:
    """``transform`` (keypoint frame a -> b) as one from thumbnail a's pixels to thumbnail b's."""
    into_frame = KEYPOINT_SIDE / max(a.grey.shape)
    out_of_frame = max(b.grey.shape) / KEYPOINT_SIDE
    out = transform.astype(np.float64).copy()
    out[:, :2] *= into_frame * out_of_frame
    out[:, 2] *= out_of_frame
    return out


def _outside_boxes(x: np.ndarray, y: np.ndarray, valid: np.ndarray, limits: KeypointLimits) -> np.ndarray | None:
    """``valid`` (h, w) less the bounding boxes of the patches where two aligned thumbnails
    differ, when there are at most ``max_boxes`` of them and together they cover at most
    ``max_box_area`` of the overlap (bars or a caption painted over a copy); else None. The
    gain and offset from one thumbnail's grey to the other's are fitted on the pixels that
    agree (bars would pull a fit over all of them), then the patches are what misses it."""
    # the fits run on the valid pixels alone, in one row-major order, so each sees what indexing
    # the (h, w) arrays would give it
    xs, ys = x[valid], y[valid]
    xs64, ys64 = xs.astype(np.float64), ys.astype(np.float64)
    agree = np.ones(len(xs), dtype=bool)
    for _ in range(3):
        gain, offset, spread, _ = line_fit(xs64, ys64, agree)
        spread += 1e-6
        agree = np.abs(ys - (gain * xs + offset)) < 0.5 * spread
        if agree.sum() < limits.min_pixels:
            return None
    miss = np.abs(y - (gain * x + offset))
    differ = cv2.morphologyEx(((miss > 0.5 * spread) & valid).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(differ, np.ones((3, 3), np.uint8)), connectivity=8)
    sizes = np.bincount(labels[differ.astype(bool)], minlength=count)
    big = [k for k in range(1, count) if sizes[k] >= 4]
    if not big or len(big) > limits.max_boxes:
        return None
    rest = valid.copy()
    for k in big:
        left, top, width, height, _ = stats[k]
        rest[top : top + height, left : left + width] = False
    if (valid.sum() - rest.sum()) > limits.max_box_area * valid.sum() or rest.sum() < limits.min_pixels:
        return None
    return rest


@dataclass(frozen=True)
class Coarse:
    """A pair the catalog's columns let through to the files (:func:`coarse_match`)."""

    transform: np.ndarray  # (2, 3) keypoint frame a -> b
    inliers: int
    edited: bool  # the thumbnails agreed only outside boxes, or not at all: the files are held to what an edit leaves
    agreed: bool  # the thumbnails vouch for the pair, under keypoints spread over it (False: let through by
    # many keypoints at one size, or on one small shape)
    strict: bool  # the files are held to a refined fit's standard: the thumbnails agreed only under a fit to
    # their pixels, or the keypoints sit on one small shape
    refine: bool = False  # the thumbnails came close but not through: the files are fitted to their pixels
    # whatever the keypoints' fit leaves (a crop of a repeating pattern resized to another aspect)


def stretched_fit(
    a: Keypoints,
    b: Keypoints,
    inliers: int,
    limits: KeypointLimits,
    matches: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """The affine transform (2, 3) from a's keypoint frame to b's that the matches support when one
    axis was stretched more than the other (RANSAC over the matches, at most ``STRETCH_TRIALS``
    samples); None when it explains fewer than ``inliers`` (the similarity's count) or
    ``min_inliers`` matches, shears (a stretch along the picture's own axes keeps them square) or
    stretches one axis more than ``max_anisotropy`` times the other."""
    mine, theirs = good_matches(a, b)[0] if matches is None else matches
    transform, mask = cv2.estimateAffine2D(
        a.xy[mine], b.xy[theirs], method=cv2.RANSAC, ransacReprojThreshold=limits.ransac_error, maxIters=STRETCH_TRIALS
    )
    if transform is None or int(mask.sum()) < max(inliers, limits.min_inliers):
        return None
    columns = transform[:, :2].T
    sheared = abs(columns[0] @ columns[1]) / (np.linalg.norm(columns[0]) * np.linalg.norm(columns[1]))
    axes = np.linalg.svd(transform[:, :2], compute_uv=False)
    if sheared > MAX_STRETCH_SHEAR or axes[0] > limits.max_anisotropy * axes[1]:
        return None
    if not limits.min_scale <= math.sqrt(axes[0] * axes[1]) <= limits.max_scale:
        return None
    return transform


def upright_fit(
    a: Keypoints, b: Keypoints, limits: KeypointLimits, matches: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, int, tuple[float, float]] | None:
    """:func:`fit_transform`'s answer for a transform of scale and shift alone (no turn), by
    RANSAC over pairs of matches (``UPRIGHT_TRIALS``, seeded: the same answer every run) and a
    least-squares refit to the inliers; None when fewer than ``min_inliers`` fit it or its scale
    is out of bounds. A ring or a striped square looks the same turned half round, and among few
    matches on such shapes the similarity fit can take the turn."""
    mine, theirs = good_matches(a, b)[0] if matches is None else matches
    if len(mine) < limits.min_inliers:
        return None
    p, q = a.xy[mine].astype(np.float64), b.xy[theirs].astype(np.float64)
    rng = np.random.default_rng(0)
    first, second = rng.integers(0, len(p), UPRIGHT_TRIALS), rng.integers(0, len(p), UPRIGHT_TRIALS)
    apart = np.linalg.norm(p[second] - p[first], axis=1)
    scales = np.linalg.norm(q[second] - q[first], axis=1) / np.maximum(apart, 1e-9)  # (trials,)
    shifts = q[first] - scales[:, None] * p[first]  # (trials, 2)
    misses = np.linalg.norm(q[None] - (scales[:, None, None] * p[None] + shifts[:, None]), axis=2)  # (trials, n)
    counts = (misses < limits.ransac_error).sum(axis=1) * (apart > limits.ransac_error)
    inlier = misses[int(counts.argmax())] < limits.ransac_error
    if inlier.sum() < limits.min_inliers:
        return None
    centre_p, centre_q = p[inlier].mean(axis=0), q[inlier].mean(axis=0)
    scale = float(((p[inlier] - centre_p) * (q[inlier] - centre_q)).sum() / max(((p[inlier] - centre_p) ** 2).sum(), 1e-9))
    if not limits.min_scale <= scale <= limits.max_scale:
        return None
    shift = centre_q - scale * centre_p
    spread = tuple(float(np.prod(np.ptp(xy[inlier], axis=0))) / KEYPOINT_SIDE**2 for xy in (p, q))
    return np.array([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]]), int(inlier.sum()), spread


def coarse_match(
    a_points: Keypoints,
    b_points: Keypoints,
    a: Thumb,
    b: Thumb,
    limits: KeypointLimits,
    matches: tuple[np.ndarray, np.ndarray] | None = None,
) -> Coarse | None:
    """The :class:`Coarse` of a pair when a's keypoints, matched in b's, fit one transform and the
    thumbnails agree under it (or under that transform refitted to them), or it keeps one size
    and many keypoints fit it or the thumbnails agree beside black bars; else None. Reads
    nothing but the catalog's columns: most candidate pairs stop here."""
    fitted = fit_transform(a_points, b_points, limits, matches)
    if fitted is None:
        return None
    if abs(math.degrees(math.atan2(fitted[0][1, 0], fitted[0][0, 0]))) > UPRIGHT_AFTER_TURN:
        upright = upright_fit(a_points, b_points, limits, matches)
        if upright is not None and (warped := warped_agreement(a, b, upright[0], limits)) is not None:
            turned = warped_agreement(a, b, fitted[0], limits)
            if warped[0] >= limits.threshold and not warped[2] and (turned is None or turned[0] < limits.refine_below[0]):
                # the thumbnails agree with no turn and too little with the turn to refit it: a symmetric shape
                fitted = upright
    transform, inliers, spreads = fitted
    # the share of each picture the matches span; the larger counts (in a heavy crop they span
    # most of the crop and a third of the original)
    spread = max(s / (t.grey.size / max(t.grey.shape) ** 2) for s, t in zip(spreads, (a, b)))
    # many keypoints at one size: one canvas, whatever part of it they sit on (a textured patch
    # beside bars); the files then decide, held to what an edit may leave
    at_one_size = abs(math.hypot(*transform[:, 0]) - 1) <= limits.edited_max_rescale
    one_canvas = inliers >= limits.edited_min_inliers and at_one_size
    small = spread < limits.min_spread
    if small and not one_canvas and inliers < limits.small_min_inliers:
        return None
    warped = _warp_thumbs(a, b, transform, limits)
    if warped is None:
        return None
    correlation, overlap, edited = _agreement(warped, limits)
    refitted = False
    if correlation < limits.threshold and not one_canvas and (a.width, a.height) == (b.width, b.height):
        # files of one size: perhaps a crop scaled back to its original's size, one axis
        # stretched more than the other; far from the middle the similarity misses the matches
        # by more than the thumbnails forgive, and an affine fit to the same matches brings them
        # closer (and the refit below, if need be, together)
        stretched = stretched_fit(a_points, b_points, inliers, limits, matches)
        warped_again = None if stretched is None else _warp_thumbs(a, b, stretched, limits)
        again = None if warped_again is None else _agreement(warped_again, limits)
        if again is not None and max(correlation, limits.refine_below[0]) <= again[0] and not again[2]:
            transform, warped, (correlation, overlap, edited) = stretched, warped_again, again
            refitted = correlation >= limits.threshold
    if correlation < limits.threshold and correlation >= limits.refine_below[0] and not one_canvas:
        # a crop resized to another aspect: the similarity fit is off by a pixel or two at the
        # thumbnails' edges; an affine fit to their pixels may bring them together
        refit = _refit_on_thumbs(a, b, transform, limits)
        again = None if refit is None else warped_agreement(a, b, refit, limits)
        if again is not None and again[0] >= limits.threshold and not again[2]:
            transform, (correlation, overlap, edited), refitted = refit, again, True
    if overlap < limits.min_overlap:
        return None
    if correlation < limits.threshold:
        # bars too many or too large for the thumbnails' boxes: many keypoints at one size, or
        # thumbnails that agree wherever neither is black, still send the pair to the files,
        # where bars are found at full detail and little else may differ
        beside_black = _beside_black(warped, limits) if at_one_size and not one_canvas else None
        if one_canvas or (beside_black is not None and beside_black >= limits.threshold):
            return Coarse(transform, inliers, edited=True, agreed=False, strict=refitted)
        if correlation >= limits.refine_below[0] and not at_one_size and not small:
            # a crop resized to another aspect over dots or stripes: the similarity fit is a few
            # pixels off across the picture, and at 64 pixels a repeating pattern aliases too
            # much for the thumbnails to be refitted; when nearly every edge of the thumbnails
            # has a partner (or they have too few edges to tell), the files, fitted to their
            # pixels, decide
            worse = _unmatched_edges(*warped[:3])[1]
            if worse <= limits.pattern_max_edges or worse >= 1.0:
                return Coarse(transform, inliers, edited=False, agreed=False, strict=True, refine=True)
        return None
    # matches on one small shape (a glyph two pictures share): the thumbnails do not vouch for
    # the pair, and the files must show one picture inside the other, differing hardly at all
    # (on one canvas: what an edit may leave)
    return Coarse(
        transform,
        inliers,
        edited=edited or (small and one_canvas),
        agreed=not small,
        strict=refitted or (small and not one_canvas),
    )


def _refit_on_thumbs(a: Thumb, b: Thumb, transform: np.ndarray, limits: KeypointLimits) -> np.ndarray | None:
    """``transform`` (keypoint frame a -> b) refined on the two grey thumbnails (:func:`refine_transform`),
    as a keypoint-frame transform again; None when the fit fails."""
    to_b = _thumb_transform(a, b, transform)
    thumbs = (t.blurred(limits.blur) for t in (a, b))
    coarse = replace(limits, max_refine_shift=limits.max_refine_shift * 64 / KEYPOINT_SIDE, refine_iterations=10)
    refined = refine_transform(*thumbs, to_b, coarse)
    if refined is None:
        return None
    into_frame, out_of_frame = KEYPOINT_SIDE / max(a.grey.shape), max(b.grey.shape) / KEYPOINT_SIDE
    refined[:, :2] /= into_frame * out_of_frame
    refined[:, 2] /= out_of_frame
    return refined


@dataclass(frozen=True)
class FineScore:
    """How closely two files' grey pictures agree under a transform (:func:`fine_agreement`)."""

    correlation: float  # over the overlap less the flat boxes, after the best gain and offset
    unexplained: float  # share of the overlap in blobs where they differ, flat boxes aside
    unmatched_edges: float  # share of one picture's edges (the better side) with no edge of the other near
    unmatched_edges_worse: float  # the same of the worse side (what one picture has that the other lacks)
    boxes: float  # share of the overlap in flat boxes (bars painted over one of them)
    contained: float  # share of the smaller picture (in b's frame) that lies inside the other
    unshifted: float  # share of the overlap (boxes aside) in blobs that no shift of a pixel explains

    def worth_refining(self, limits: KeypointLimits) -> bool:
        """Whether a pair that fails under the keypoints' fit is near enough to passing, one picture
        inside the other, for a fit to the pixels (:func:`refine_transform`) to be worth its cost."""
        correlation, unexplained, edges = limits.refine_below
        return (
            self.contained >= limits.min_contained
            and self.correlation >= correlation
            and self.unexplained <= unexplained
            and self.unmatched_edges_worse <= edges
        )

    def passes(self, limits: KeypointLimits, refined: bool = False, edited: bool = False) -> bool:
        """Whether the two pictures agree closely enough; ``refined``: under a fit to their pixels
        (:func:`refine_transform`), where one must lie inside the other and few pixels may differ;
        ``edited``: their thumbnails agreed only outside boxes, so few pixels may differ outside
        the bars found here. Those two stricter limits give way to ``max_resampled_unexplained``
        when nearly all of the difference vanishes once each pixel may come from a neighbour (a
        copy resampled to another size differs along every edge by a fraction of a pixel;
        another drawing's changed eye or hat stays), and under a refined fit without bars every
        limit on the differing share gives way to ``max_registered_unexplained`` then (thin
        lines turned a few degrees)."""
        if refined and self.contained < limits.min_contained:
            return False
        registered = (
            refined
            and not edited
            and self.unshifted <= limits.max_unshifted
            and self.unexplained <= limits.max_registered_unexplained
        )
        stricter = [limits.max_refined_unexplained] * refined + [limits.max_edited_unexplained] * edited
        if stricter and self.unexplained > min(stricter) and not registered:
            if self.unshifted > limits.max_unshifted or self.unexplained > limits.max_resampled_unexplained:
                return False
        return (
            self.correlation >= limits.fine_threshold
            and (self.unexplained <= limits.max_unexplained or registered)
            and self.unmatched_edges <= limits.max_unmatched_edges
            and self.unmatched_edges_worse <= limits.max_unmatched_edges_worse
        )


def fine_agreement(
    a: np.ndarray, b: np.ndarray, transform: np.ndarray, limits: KeypointLimits, detail: tuple[float, float] = (1.0, 1.0)
) -> FineScore | None:
    """Grey picture ``a`` (h, w) float32 warped by ``transform`` onto ``b`` (H, W) float32, both in
    their keypoint frames (``KEYPOINT_SIDE`` on the long side), compared where both are. None
    when they hardly overlap or either is nearly flat there. ``detail``: how much detail each
    frame holds per pixel (the file's long side over ``KEYPOINT_SIDE``, at most 1): a small
    crop enlarged to the frame is blurrier than its original, so the sharper of the two is
    blurred to match before they are compared.

    The thumbnails cannot tell a copy from another drawing that reuses the same figure in the
    same place (a changed mouth, a small object added): at 64 pixels those are a few pixels.
    Here they are blobs of differing pixels and edges with no partner."""
    h, w = b.shape
    to_b = transform.astype(np.float64)
    sharp_a, sharp_b = cv2.warpAffine(a, to_b, (w, h), flags=cv2.INTER_LINEAR), b
    scale = math.sqrt(abs(np.linalg.det(to_b[:, :2])))
    detail_a, detail_b = min(1.0, detail[0] / scale), min(1.0, detail[1])  # per pixel of b's frame
    extra = 0.5 * math.sqrt(abs(1 / min(detail_a, detail_b) ** 2 - 1 / max(detail_a, detail_b) ** 2))
    blur_a = math.hypot(limits.fine_blur, extra) if detail_a > detail_b else limits.fine_blur
    blur_b = math.hypot(limits.fine_blur, extra) if detail_b > detail_a else limits.fine_blur
    warped = cv2.GaussianBlur(sharp_a, (0, 0), blur_a)
    b = cv2.GaussianBlur(b, (0, 0), blur_b)
    coverage = cv2.warpAffine(np.ones_like(a), to_b, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    contained = float((coverage > 0.5).sum() / min(a.size * abs(np.linalg.det(to_b[:, :2])), b.size))
    valid = cv2.erode((coverage > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    area = int(valid.sum())
    if area < 500:
        return None
    x, y = warped[valid].astype(np.float64), b[valid].astype(np.float64)
    spread = float(y.std())
    if spread < 2.0 or x.std() < 2.0:
        return None
    gain, offset = _robust_gain_offset(x, y, limits.residual * spread)
    differ = (np.abs(b - (gain * warped + offset)) > limits.residual * spread) & valid
    differ = cv2.morphologyEx(differ.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(differ, connectivity=8)
    boxes = np.zeros_like(valid)
    unexplained = 0
    margin = math.ceil(2 * limits.fine_blur)
    for k in range(1, count):
        left, top, width, height, size = stats[k]
        inner = (slice(top + margin, top + height - margin), slice(left + margin, left + width - margin))
        if size > 30 and size >= 0.85 * width * height and min(width, height) > 2 * margin + 2:
            # a filled rectangle, flat inside (the blur aside) in one of the two: a bar painted over
            if min(float(sharp_a[inner].std()), float(sharp_b[inner].std())) < 6.0:
                box = (slice(top, top + height), slice(left, left + width))
                boxes[box] |= labels[box] == k
                continue
        unexplained += int(size)
    if unexplained and limits.max_boxes:
        boxes, unexplained = _paint_over(sharp_a, sharp_b, differ.astype(bool) & ~boxes, valid, boxes, margin, limits)
    kept = valid & ~boxes
    correlation = masked_correlation(warped, b, kept) if kept.sum() >= 500 else -1.0
    better, worse = _unmatched_edges(warped, b, valid & ~boxes)
    unshifted = _unshifted(warped, b, gain, offset, limits.residual * spread, kept) if unexplained else 0
    return FineScore(
        correlation, unexplained / area, better, worse, float(boxes.sum() / area), min(1.0, contained), unshifted / area
    )


def _unshifted(a: np.ndarray, b: np.ndarray, gain: float, offset: float, tolerance: float, where: np.ndarray) -> int:
    """Pixels of ``where`` (h, w) in blobs (3 x 3 opened) where ``b`` misses ``gain a + offset`` by more
    than ``tolerance`` at every pixel of ``a`` within one of its own place (both (h, w), one grid)."""
    near = np.ones((3, 3), np.uint8)
    low, high = gain * cv2.erode(a, near) + offset, gain * cv2.dilate(a, near) + offset
    low, high = np.minimum(low, high), np.maximum(low, high)
    outside = ((b < low - tolerance) | (b > high + tolerance)) & where
    return int(cv2.morphologyEx(outside.astype(np.uint8), cv2.MORPH_OPEN, near).sum())


def _robust_gain_offset(x: np.ndarray, y: np.ndarray, tolerance: float) -> tuple[float, float]:
    """``y ~ gain x + offset`` over two float64 vectors of one length, fitted to the pixels that
    agree: bars or other edits pull a fit over every pixel, so the pixels it leaves further
    than ``tolerance`` are dropped and the rest fitted again.

    When some pixels are black on one side only (bars), fits are also started beside them and
    at the copy's own grey (gain 1, the median difference there), each refitted until it
    settles, and the one that explains the most pixels closely (within ``CLOSE`` of the
    tolerance) is kept. Bars can pull a fit over every pixel so far that it explains nothing
    (a sky graded under them), and a loose tolerance rewards a wrong slope: blurred bar rims
    between white and black sit near a line of gain 0.8 as well as the ground does."""
    dark = (x <= BAR_GREY) != (y <= BAR_GREY)
    everywhere = np.ones(len(x), dtype=bool)
    if dark.sum() < 0.02 * len(x) or (~dark).sum() < 500:
        return _refitted(x, y, line_fit(x, y, everywhere)[:2], tolerance)
    beside = ~dark
    fits = [
        _refitted(x, y, line_fit(x, y, everywhere)[:2], tolerance),
        _refitted(x, y, line_fit(x, y, beside)[:2], tolerance, REFITS),
        _refitted(x, y, (1.0, float(np.median(y[beside] - x[beside]))), tolerance, REFITS),
    ]
    closely = np.empty(len(x), dtype=bool)
    return max(fits, key=lambda fit: within(x, y, fit[0], fit[1], CLOSE * tolerance, closely))


def _refitted(x: np.ndarray, y: np.ndarray, fit: tuple[float, float], tolerance: float, refits: int = 1) -> tuple[float, float]:
    """``fit`` fitted again to the pixels within ``tolerance`` of it when edits pull it, up to
    ``refits`` times or until the pixels it explains stay the same: the blurred rims of large
    bars pull one refit part of the way (a gain of 0.85 where the copy's is 1), and each further
    one moves closer."""
    gain, offset = fit
    fitted, before = np.empty(len(x), dtype=bool), np.empty(len(x), dtype=bool)
    count = within(x, y, gain, offset, tolerance, fitted)
    for _ in range(refits):
        if count < 500 or count / len(x) >= 0.98:  # too few to fit, or nothing pulls the fit
            break
        gain, offset, _, _ = line_fit(x, y, fitted)
        fitted, before = before, fitted
        count = within(x, y, gain, offset, tolerance, fitted)
        if np.array_equal(before, fitted):
            break
    return gain, offset


def _paint_over(
    a: np.ndarray, b: np.ndarray, leftover: np.ndarray, valid: np.ndarray, boxes: np.ndarray, margin: int, limits: KeypointLimits
) -> tuple[np.ndarray, int]:
    """(``boxes`` (h, w) bool with the bars painted over ``a`` or ``b`` (sharp grey pictures on one
    grid) that hold the ``leftover`` differing pixels added, each grown by ``margin`` for the
    blur; the differing pixels left outside them). Up to ``max_bars`` bars, covering at most
    ``max_box_area`` of the overlap with the boxes found before."""
    bars = np.zeros_like(leftover)
    for painted, other in ((a, b), (b, a)):
        bars |= painted_bars(painted, other, leftover & ~bars, valid, limits.max_bars, known=boxes)
    unexplained = int(leftover.sum())
    if not bars.any():
        return boxes, unexplained
    grown = cv2.dilate(bars.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool) & valid
    if (boxes | grown).sum() > limits.max_box_area * valid.sum():
        return boxes, unexplained
    return boxes | grown, int((leftover & ~grown).sum())


def _unmatched_edges(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """(the smaller, the larger) of: the share of a's edges (Canny) inside ``valid`` with no edge
    of b within 2 pixels, and the same of b's; (1, 1) when either has almost no edges there."""
    inner = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    edges_a = (cv2.Canny(np.clip(a, 0, 255).astype(np.uint8), 40, 100) > 0) & inner
    edges_b = (cv2.Canny(np.clip(b, 0, 255).astype(np.uint8), 40, 100) > 0) & inner
    if edges_a.sum() < 50 or edges_b.sum() < 50:
        return 1.0, 1.0
    near = np.ones((5, 5), np.uint8)
    near_a = cv2.dilate(edges_a.astype(np.uint8), near).astype(bool)
    near_b = cv2.dilate(edges_b.astype(np.uint8), near).astype(bool)
    shares = sorted(((edges_a & ~near_b).sum() / edges_a.sum(), (edges_b & ~near_a).sum() / edges_b.sum()))
    return float(shares[0]), float(shares[1])


def verify_pair(*pair) -> Match | None:
    """The :class:`Match` of two pictures (:func:`check_pair`'s arguments), or None: a near
    miss is no match."""
    found = check_pair(*pair)
    return found if isinstance(found, Match) else None


def check_pair(
    a_points: Keypoints,
    b_points: Keypoints,
    a: Thumb,
    b: Thumb,
    read_a: GreyFile,
    read_b: GreyFile,
    limits: KeypointLimits,
) -> Match | NearMiss | None:
    """The :class:`Match` of two pictures; for a pair refused at the file comparison whose
    thumbnails agreed (or whose files correlate) its :class:`NearMiss` (the closest comparison
    of the two sides); None when their keypoints or thumbnails disagree, or a file no longer
    reads. ``read_a``, ``read_b`` read each file again (in its keypoint frame, or at native
    size for a flush copy: :mod:`.flush`), only for pairs the catalog's columns cannot refuse."""
    forward, backward = good_matches(a_points, b_points)
    sides = ((a_points, b_points, a, b, read_a, read_b, forward), (b_points, a_points, b, a, read_b, read_a, backward))
    closest: NearMiss | None = None
    fitted = False
    for p_points, q_points, p, q, read_p, read_q, matches in sides:  # a's matched in b's, then b's in a's
        coarse = coarse_match(p_points, q_points, p, q, limits, matches)
        if coarse is None:
            continue
        fitted = True
        found = _files_decide(p, q, read_p, read_q, coarse, limits)
        if found is _UNREADABLE:
            return None
        if isinstance(found, Match):
            return found
        closest = _least_differing(closest, found)
    censored = censored_in_place(a, b, read_a, read_b, limits)
    if censored is _UNREADABLE:
        return None
    if isinstance(censored, Match):
        return censored
    closest = _least_differing(closest, censored)
    flush = flush_copy(a, b, read_a.native, read_b.native, limits.flush)
    if flush is not None:
        return _at_scale(flush, a, b)
    if not fitted:
        # no keypoint fit: a large region cut out keeps too few of the original's keypoints, but
        # at the scale the native sizes imply its thumbnail may still sit in the original's
        for p, q, read_p, read_q in ((a, b, read_a, read_b), (b, a, read_b, read_a)):
            coarse = placed_inside(p, q, limits)
            if coarse is not None:
                found = _files_decide(p, q, read_p, read_q, coarse, limits)
                if found is _UNREADABLE or isinstance(found, Match):
                    return None if found is _UNREADABLE else found
                closest = found or closest
                break
        # or, on a grainy canvas that its thumbnail cannot place, its native pixels
        inside = inside_copy(a, b, read_a.native, read_b.native, limits.flush)
        if inside is not None:
            return _at_scale(inside, a, b)
    return closest


def _at_scale(copy: FlushCopy, a: Thumb, b: Thumb) -> Match:
    """The :class:`Match` of a copy found at its original's scale (:mod:`.flush`)."""
    inner, outer = (a, b) if copy.inner_first else (b, a)
    return Match(copy.transform, 0, copy.correlation, relation(copy.transform, inner, outer, False))


_UNREADABLE = NearMiss("", 1.0)  # a file no longer reads: the pair is not judged


def _least_differing(closest: NearMiss | None, found: NearMiss | None) -> NearMiss | None:
    """The near miss of the two (either may be None) whose overlap differs least."""
    return found if found is not None and (closest is None or found.unexplained < closest.unexplained) else closest


def _read_both(read_a: GreyFile, read_b: GreyFile) -> tuple[np.ndarray, np.ndarray] | None:
    """Both files' grey pictures in their keypoint frames, or None when either no longer reads."""
    grey_a = read_a()
    grey_b = read_b() if grey_a is not None else None
    return None if grey_b is None else (grey_a, grey_b)


def _files_decide(
    p: Thumb,
    q: Thumb,
    read_p: GreyFile,
    read_q: GreyFile,
    coarse: Coarse,
    limits: KeypointLimits,
) -> Match | NearMiss | None:
    """Steps 3 and 4 for a pair the catalog's columns let through (``coarse``, keypoint frame p ->
    q): the files compared under the coarse transform, then under one refined to their pixels.
    A :class:`Match`; the :class:`NearMiss` of a refused pair the thumbnails or the files vouch
    for; None; ``_UNREADABLE`` when a file no longer reads."""
    transform, inliers, edited, agreed = coarse.transform, coarse.inliers, coarse.edited, coarse.agreed
    greys = _read_both(read_p, read_q)
    if greys is None:
        return _UNREADABLE
    grey_p, grey_q = greys
    detail = (_detail(p), _detail(q))
    score = fine_agreement(grey_p, grey_q, transform, limits, detail)
    if score is None:
        return None
    tried = [(transform, score)]
    if not score.passes(limits, refined=coarse.strict, edited=edited):
        worth = score.worth_refining(limits) or (
            coarse.refine and score.contained >= limits.min_contained and score.unmatched_edges_worse <= limits.pattern_max_edges
        )
        refined = refine_transform(grey_p, grey_q, transform, limits) if worth else None
        again = None if refined is None else fine_agreement(grey_p, grey_q, refined, limits, detail)
        if again is None or not again.passes(limits, refined=True, edited=edited):
            recoloured = None if again is None else _recoloured(read_p, grey_q, refined, again, limits, detail, edited)
            if recoloured is not None:
                return Match(refined, inliers, recoloured.correlation, relation(refined, p, q, recoloured.boxes >= 0.01))
            tried += [(refined, again)] if again is not None else []
            fit, best = min(tried, key=lambda t: t[1].unexplained)
            vouched = agreed or best.correlation >= limits.fine_threshold  # by the thumbnails or the files
            return NearMiss(relation(fit, p, q, best.boxes >= 0.01), best.unexplained) if vouched else None
        transform, score = refined, again
    return Match(transform, inliers, score.correlation, relation(transform, p, q, score.boxes >= 0.01))


def _recoloured(
    read_p: GreyFile,
    grey_q: np.ndarray,
    refined: np.ndarray,
    grey_score: FineScore,
    limits: KeypointLimits,
    detail: tuple[float, float],
    edited: bool,
) -> FineScore | None:
    """The :class:`FineScore` of picture p with its hue turned to explain q's grey (:mod:`.recolour`)
    under the ``refined`` fit (2, 3), when the grey comparison there (``grey_score``) came close
    and the turn explains most of what it left; None otherwise. Step 5, for a hue turned as well."""
    if grey_score.unexplained > limits.recolour_below or grey_score.contained < limits.min_contained:
        return None
    colour_p = read_p.colour()
    if colour_p is None:
        return None
    turned = turned_grey(colour_p, grey_q, refined, limits.fine_blur, limits.residual, limits.max_hue_turn)
    score = None if turned is None else fine_agreement(turned[1], grey_q, refined, limits, detail)
    if score is None or score.unexplained > limits.recoloured_share * grey_score.unexplained:
        return None
    return score if score.passes(limits, refined=True, edited=edited) else None


def censored_in_place(a: Thumb, b: Thumb, read_a: GreyFile, read_b: GreyFile, limits: KeypointLimits) -> Match | NearMiss | None:
    """The ``edited`` :class:`Match` of a censored copy on its original's canvas (the same
    aspect, opaque): bars over the figure leave its keypoints too few to fit, or fit to a wrong
    transform, yet everywhere one picture is not black where the other is, the two agree.
    The thumbnails in place must agree beside black (:func:`agreement_beside_black`), then the
    files, outside what is black in one only, to a refined fit's standard; None otherwise (or
    ``_UNREADABLE`` when a file no longer reads)."""
    if a.alpha is not None or b.alpha is not None or not same_aspect(a.width, a.height, b.width, b.height):
        return None
    # most candidate pairs have no black in one only: they stop here, unwarped (the blur spreads black a little)
    if a.black_share + b.black_share < limits.min_censored / 2:
        return None
    if a.grey.shape == b.grey.shape and (a.black != b.black).mean() < limits.min_censored / 2:
        return None
    in_place = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # both keypoint frames span the same canvas
    warped = _warp_thumbs(a, b, in_place, limits)
    if warped is None:
        return None
    ours, theirs, valid, _ = warped
    if ((ours <= BAR_GREY) != (theirs <= BAR_GREY))[valid].mean() < limits.min_censored:
        return None
    beside = _beside_black(warped, limits)
    if beside is None or beside < limits.threshold:
        return None
    greys = _read_both(read_a, read_b)
    if greys is None:
        return _UNREADABLE
    score = files_beside_black(*greys, limits)
    if score is None:
        return None
    correlation, unexplained, black, shown = score
    if not limits.min_censored <= black <= limits.max_box_area or correlation < limits.fine_threshold or shown < 0.5:
        return None  # shown: two drawings on black agree wherever both are black, which tells nothing
    if unexplained > limits.max_refined_unexplained:
        return NearMiss("edited", unexplained)
    return Match(in_place, 0, correlation, "edited")


def files_beside_black(a: np.ndarray, b: np.ndarray, limits: KeypointLimits) -> tuple[float, float, float, float] | None:
    """(correlation, unexplained, black, shown) of two grey pictures (h, w) float32 in one
    keypoint frame (a pixel or so of rounding aside), compared where neither is black unless
    both are, the pixels black in one only grown by ``censor_margin``: the correlation after
    the blur, the share of those pixels in blobs that a gain and offset do not explain, the
    share of the canvas left out, and the share compared that is black in neither. None when
    too little is left or it is flat."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    x, y = (cv2.GaussianBlur(np.ascontiguousarray(g[:h, :w]), (0, 0), limits.fine_blur) for g in (a, b))
    # black after the blur: a bar's inside stays black, thin black lines (which a resampled copy
    # keeps black in other places) turn grey in both
    black = ((x <= BAR_GREY) != (y <= BAR_GREY)).astype(np.uint8)
    side = 2 * limits.censor_margin + 1
    near = cv2.dilate(black, np.ones((side, side), np.uint8)).astype(bool)
    inside = np.zeros((h, w), bool)
    inside[3:-3, 3:-3] = True  # the rims of two reductions differ
    keep = inside & ~near
    if keep.sum() < 500:
        return None
    spread = float(y[keep].std())
    if spread < 2.0 or float(x[keep].std()) < 2.0:
        return None
    tolerance = limits.residual * spread
    gain, offset = _robust_gain_offset(x[keep].astype(np.float64), y[keep].astype(np.float64), tolerance)
    differ = ((np.abs(y - (gain * x + offset)) > tolerance) & keep).astype(np.uint8)
    differ = cv2.morphologyEx(differ, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    shown = float(((x > BAR_GREY) & (y > BAR_GREY))[keep].mean())
    return masked_correlation(x, y, keep), float(differ.sum() / keep.sum()), float(near[inside].mean()), shown


def placed_inside(inner: Thumb, outer: Thumb, limits: KeypointLimits) -> Coarse | None:
    """The :class:`Coarse` of a pair whose keypoints fit no transform when thumbnail ``inner``,
    at the scale the native sizes imply, sits in ``outer`` at correlation ``limits.placement.
    threshold`` (:func:`~curation.dedupe.align.native_placement`): the transform (keypoint frame
    inner -> outer) is that placement, and the files are held to a refined fit's standard."""
    placed = native_placement(outer, inner, limits.placement)
    if placed is None or placed[0] < limits.placement.threshold:
        return None
    _, dy, dx = placed  # thumbnail pixels of outer, to a quarter of one
    frame_inner = KEYPOINT_SIDE / max(inner.width, inner.height)  # keypoint-frame pixels per native pixel
    frame_outer = KEYPOINT_SIDE / max(outer.width, outer.height)
    native_per_thumb = outer.width / outer.grey.shape[1]
    scale = frame_outer / frame_inner
    transform = np.array([[scale, 0.0, dx * native_per_thumb * frame_outer], [0.0, scale, dy * native_per_thumb * frame_outer]])
    return Coarse(transform, 0, edited=False, agreed=True, strict=True)


def refine_transform(a: np.ndarray, b: np.ndarray, transform: np.ndarray, limits: KeypointLimits) -> np.ndarray | None:
    """The affine transform (2, 3) taking grey picture ``a`` (h, w) onto ``b`` (H, W), both float32 in
    their keypoint frames, fitted to their pixels (OpenCV's ECC) from the keypoints' similarity
    ``transform``; None when the fit fails, wanders more than ``max_refine_shift`` from the
    start, or stretches one axis more than ``max_anisotropy`` times the other.

    Keypoints are found to a pixel or so, and a similarity cannot describe a crop resized to
    another aspect ratio: a repost compared under that fit leaves thin lines of differing pixels
    along every edge, as many as a look-alike's changed mouth. The pixel fit removes them."""
    start = cv2.invertAffineTransform(transform.astype(np.float64)).astype(np.float32)  # b -> a, as ECC warps
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, limits.refine_iterations, 1e-4)
    try:
        _, fitted = cv2.findTransformECC(b, a, start, cv2.MOTION_AFFINE, criteria, None, 5)
    except cv2.error:  # no convergence: pictures too unlike for a pixel fit
        return None
    refined = cv2.invertAffineTransform(fitted).astype(np.float64)
    h, w = a.shape
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    if np.abs(corners @ refined.T - corners @ transform.astype(np.float64).T).max() > limits.max_refine_shift:
        return None
    axes = np.linalg.svd(refined[:, :2], compute_uv=False)
    return refined if axes[0] <= limits.max_anisotropy * axes[1] else None


@dataclass(frozen=True)
class PairFile:
    """What checking a pair needs of one of its files: the catalog's thumbnail and keypoints,
    and the path to read it again from (None: it cannot be)."""

    thumb: Thumb
    points: Keypoints
    path: str | None


def check_batch(
    pairs: list[tuple[int, int]], files: dict[int, PairFile], background: tuple[int, int, int], limits: KeypointLimits
) -> tuple[list[float | None], int]:
    """(the :func:`encode` d answer of each pair (keys of ``files``; positive: a match, negative:
    a near miss, None: not one picture, ``UNJUDGED``: no match, but a file the pair needed did not
    read), the number of files read): what a dedupe worker process does with one batch of
    candidates."""
    readers = {row: GreyFile.at(f.path, background) for row, f in files.items()}
    out: list[float | None] = []
    for i, j in pairs:
        if i not in files or j not in files:
            out.append(None)
            continue
        a, b = files[i], files[j]
        missed = readers[i].missed + readers[j].missed
        found = check_pair(a.points, b.points, a.thumb, b.thumb, readers[i], readers[j], limits)
        if found is None and readers[i].missed + readers[j].missed > missed:  # this pair asked for a file in vain
            out.append(UNJUDGED)
        else:
            out.append(None if found is None else encode(found))
    return out, sum(reader.reads > 0 for reader in readers.values())


def _detail(thumb: Thumb) -> float:
    """Detail per pixel of a picture's keypoint frame: its long side over ``KEYPOINT_SIDE``, at most 1."""
    return min(1.0, max(thumb.width, thumb.height) / KEYPOINT_SIDE)


def relation(transform: np.ndarray, a: Thumb, b: Thumb, edited: bool) -> str:
    """What the transform says one picture is of the other: ``rotated`` (turned by more than a
    degree), ``derivative`` (one is a region of the other: under ``DERIVATIVE_AREA`` of its
    canvas, the rest of which holds more of the picture), ``cropped`` (one covers clearly less
    than the other's canvas: a trim, or a margin or caption added), ``edited`` (boxes painted
    over), else ``resized``."""
    angle = abs(math.degrees(math.atan2(transform[1, 0], transform[0, 0])))
    if angle > 1.0:
        return "rotated"
    scale = math.sqrt(abs(np.linalg.det(transform[:, :2])))
    area_a = a.grey.size / max(a.grey.shape) ** 2 * scale * scale  # in b's frame, long side 1
    area_b = b.grey.size / max(b.grey.shape) ** 2
    if min(area_a, area_b) < DERIVATIVE_AREA * max(area_a, area_b):
        inner, outer, to_outer = (a, b, transform) if area_a < area_b else (b, a, cv2.invertAffineTransform(transform))
        if _holds_more(outer, inner, to_outer):
            return "derivative"
    if min(area_a, area_b) < 0.9 * max(area_a, area_b):
        return "cropped"
    return "edited" if edited else "resized"


def _holds_more(outer: Thumb, inner: Thumb, to_outer: np.ndarray) -> bool:
    """Whether thumbnail ``outer`` shows more picture around where ``inner`` lands on it under
    ``to_outer`` (keypoint frame inner -> outer): a crop's original does, while a copy padded
    with a plain margin is flat there."""
    to_thumb = _thumb_transform(inner, outer, to_outer)
    h, w = outer.grey.shape
    covered = cv2.warpAffine(np.ones(inner.grey.shape, np.float32), to_thumb, (w, h), borderValue=0.0) > 0.01
    around = ~cv2.dilate(covered.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if outer.alpha is not None:
        around &= outer.alpha >= OPAQUE
    return int(around.sum()) >= 16 and float(outer.grey[around].std()) >= PLAIN_MARGIN


RELATIONS = ("resized", "cropped", "rotated", "edited", "derivative")  # dup_edges kinds a keypoint match gives
UNJUDGED = 0.0  # the answer of a pair a file of which did not read (encode never gives 0): not kept between runs


def encode(found: Match | NearMiss) -> float:
    """A match or near miss as the one number ``pixel_checks`` keeps: for a match, 2 x its
    relation's index in ``RELATIONS`` + its correlation (which is in (0, 1]); for a near miss,
    the negative of 2 x the index + 1 + its differing share (at most 0.999)."""
    index = 2 * RELATIONS.index(found.relation)
    if isinstance(found, NearMiss):
        return -(index + 1 + min(found.unexplained, 0.999))
    return index + found.correlation


def decode(score: float) -> tuple[str, float]:
    """(relation, correlation) of an :func:`encode` d match."""
    index = int(math.ceil(score) - 1) // 2
    return RELATIONS[index], score - 2 * index


def decode_miss(score: float) -> NearMiss:
    """The :class:`NearMiss` of a negative :func:`encode` d answer."""
    index = int(-score - 1) // 2
    return NearMiss(RELATIONS[index], -score - 1 - 2 * index)
