"""Keypoints: is one picture another cut down, rescaled, turned a little, or painted over in places?

A crop of the middle 60% of a picture, a crop then resized, a repost turned by a few degrees, a
copy with censor bars: hashes of the whole picture move, and the sliding alignment of
:mod:`.align` needs both at the scale their file sizes imply and no turn. Corners and blobs of
the drawing do not move with the canvas. Each file keeps up to ``MAX_KEYPOINTS`` ORB keypoints
(found on its grey picture reduced to ``KEYPOINT_SIDE`` on the long side, where they are stored);
a pair that the embedding search proposes is matched (Hamming distance, Lowe's ratio test) and
fitted with a similarity transform by RANSAC, its scale bounded (an unbounded fit can fold
unrelated pictures onto one spot). The transform is then checked on the pixels: the grey
thumbnails warped onto each other must overlap over most of the smaller picture and correlate
there, with up to ``max_boxes`` boxes (bars, a caption) left out when the rest agrees.

Two different pictures that reuse one drawing (the same figure on another scene) match many
keypoints under one transform; the pixels around the figure tell them apart, and so does the
share of keypoints in the overlap that the transform explains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from ..images.keypoints import KEYPOINT_SIDE, Keypoints
from .align import Thumb

RATIO_TEST = 0.8  # a match must be this much nearer than the second-best (Lowe)


@dataclass(frozen=True)
class KeypointLimits:
    """What a pair needs to count as one picture: matched keypoints under one similarity
    transform, and pixels that agree once warped by it."""

    min_inliers: int = 6
    min_inlier_share: float = 0.4  # of the keypoints (of the side with fewer) that fall in the overlap
    min_scale: float = 0.3  # the transform's scale (frame to frame) is bounded to this ...
    max_scale: float = 3.3  # ... and this
    ransac_error: float = 5.0  # keypoint-frame pixels a match may miss the transform by
    min_overlap: float = 0.5  # share of the smaller picture the other covers once warped
    threshold: float = 0.93  # correlation of the warped grey thumbnails over the overlap
    edited_threshold: float = 0.93  # the same outside the boxes left out, when some are
    max_boxes: int = 3  # bars, a caption: compact patches where the two differ ...
    max_box_area: float = 0.3  # ... covering at most this share of the overlap together
    blur: float = 0.8  # Gaussian radius (thumbnail pixels) both sides get before they are compared
    min_pixels: int = 150  # overlapping thumbnail pixels needed


@dataclass(frozen=True)
class Match:
    """A verified pair: the transform (2, 3) from a's keypoint frame to b's, its inliers and
    the pixel score; ``relation`` names what one is of the other."""

    transform: np.ndarray
    inliers: int
    correlation: float
    relation: str  # cropped | rotated | edited | resized


_matcher = None


def fit_transform(
    a: Keypoints, b: Keypoints, limits: KeypointLimits, a_size: tuple[float, float], b_size: tuple[float, float]
) -> tuple[np.ndarray, int] | None:
    """(the similarity transform (2, 3) taking a's keypoint frame to b's, its inlier count), or
    None when too few keypoints match under one transform of bounded scale, or the inliers are
    too small a share of the keypoints that the overlap holds. ``a_size``, ``b_size``: (w, h)
    of each picture in its keypoint frame."""
    global _matcher
    if _matcher is None:
        _matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    if len(a.descriptors) < 2 or len(b.descriptors) < 2:
        return None
    pairs = _matcher.knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO_TEST * p[1].distance]
    if len(good) < limits.min_inliers:
        return None
    src = a.xy[[m.queryIdx for m in good]]
    dst = b.xy[[m.trainIdx for m in good]]
    transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=limits.ransac_error)
    if transform is None:
        return None
    scale = math.hypot(transform[0, 0], transform[1, 0])
    inliers = int(mask.sum())
    if not limits.min_scale <= scale <= limits.max_scale or inliers < limits.min_inliers:
        return None
    inside_b = _inside(a.xy @ transform[:, :2].T + transform[:, 2], b_size)
    inverse = cv2.invertAffineTransform(transform)
    inside_a = _inside(b.xy @ inverse[:, :2].T + inverse[:, 2], a_size)
    if inliers < limits.min_inlier_share * max(1, min(inside_a, inside_b)):
        return None
    return transform, inliers


def _inside(points: np.ndarray, size: tuple[float, float]) -> int:
    """How many of ``points`` (n, 2) fall within a picture of ``size`` (w, h)."""
    return int(((points >= 0) & (points < np.array(size, dtype=np.float32))).all(axis=1).sum())


def frame_size(thumb: Thumb) -> tuple[float, float]:
    """(w, h) of a picture in its keypoint frame, from its thumbnail's aspect."""
    h, w = thumb.grey.shape
    return KEYPOINT_SIDE * w / max(h, w), KEYPOINT_SIDE * h / max(h, w)


def warped_agreement(a: Thumb, b: Thumb, transform: np.ndarray, limits: KeypointLimits) -> tuple[float, float, bool] | None:
    """(correlation, overlap, edited) of thumbnail ``a`` warped by ``transform`` (keypoint frame
    to keypoint frame) onto thumbnail ``b``: the correlation of the blurred grey pixels where
    both are, the share of the smaller picture that overlap covers, and whether boxes where the
    two differ were left out to reach the correlation. None when they hardly overlap."""
    to_b = _thumb_transform(a, b, transform)
    h, w = b.grey.shape
    warped = cv2.warpAffine(a.grey.astype(np.float32), to_b, (w, h), flags=cv2.INTER_LINEAR)
    coverage = cv2.warpAffine(np.ones(a.grey.shape, np.float32), to_b, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    valid = cv2.erode((coverage > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if b.alpha is not None:
        valid &= b.alpha >= 230
    if valid.sum() < limits.min_pixels:
        return None
    scale = math.hypot(to_b[0, 0], to_b[1, 0])
    overlap = float(valid.sum() / min(a.grey.size * scale * scale, b.grey.size))
    ours = cv2.GaussianBlur(warped, (0, 0), limits.blur)
    theirs = cv2.GaussianBlur(b.grey.astype(np.float32), (0, 0), limits.blur)
    score = _correlation(ours, theirs, valid)
    if score >= limits.threshold or not limits.max_boxes:
        return score, overlap, False
    rest = _outside_boxes(ours, theirs, valid, limits)
    if rest is None:
        return score, overlap, False
    edited = _correlation(ours, theirs, rest)
    return (edited, overlap, True) if edited >= limits.edited_threshold else (score, overlap, False)


def _thumb_transform(a: Thumb, b: Thumb, transform: np.ndarray) -> np.ndarray:
    """``transform`` (keypoint frame a -> b) as one from thumbnail a's pixels to thumbnail b's."""
    into_frame = KEYPOINT_SIDE / max(a.grey.shape)
    out_of_frame = max(b.grey.shape) / KEYPOINT_SIDE
    out = transform.astype(np.float64).copy()
    out[:, :2] *= into_frame * out_of_frame
    out[:, 2] *= out_of_frame
    return out


def _correlation(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    a, b = x[mask].astype(np.float64), y[mask].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > len(a) else -1.0


def _outside_boxes(x: np.ndarray, y: np.ndarray, valid: np.ndarray, limits: KeypointLimits) -> np.ndarray | None:
    """``valid`` (h, w) less the bounding boxes of the patches where two aligned thumbnails
    differ, when there are at most ``max_boxes`` of them and together they cover at most
    ``max_box_area`` of the overlap (bars or a caption painted over a copy); else None."""
    zx = (x - x[valid].mean()) / (x[valid].std() + 1e-6)
    zy = (y - y[valid].mean()) / (y[valid].std() + 1e-6)
    differ = ndimage.binary_opening((np.abs(zx - zy) > 1.0) & valid, iterations=1)
    labels, count = ndimage.label(ndimage.binary_dilation(differ, iterations=2))
    if not count:
        return None
    boxes = ndimage.find_objects(labels)
    sizes = ndimage.sum(differ, labels, index=np.arange(1, count + 1))
    big = [box for box, size in zip(boxes, sizes) if size >= 4]
    if not big or len(big) > limits.max_boxes:
        return None
    rest = valid.copy()
    for box in big:
        rest[box] = False
    if (valid.sum() - rest.sum()) > limits.max_box_area * valid.sum() or rest.sum() < limits.min_pixels:
        return None
    return rest


def verify_pair(a_points: Keypoints, b_points: Keypoints, a: Thumb, b: Thumb, limits: KeypointLimits) -> Match | None:
    """The :class:`Match` of two pictures, or None when their keypoints or pixels disagree."""
    fitted = fit_transform(a_points, b_points, limits, frame_size(a), frame_size(b))
    if fitted is None:
        return None
    transform, inliers = fitted
    agreed = warped_agreement(a, b, transform, limits)
    if agreed is None:
        return None
    correlation, overlap, edited = agreed
    if correlation < limits.threshold or overlap < limits.min_overlap:
        return None
    return Match(transform, inliers, correlation, _relation(transform, a, b, edited))


def _relation(transform: np.ndarray, a: Thumb, b: Thumb, edited: bool) -> str:
    """What the transform says one picture is of the other: ``rotated`` (turned by more than a
    degree), ``cropped`` (one covers clearly less than the other's canvas), ``edited`` (boxes
    painted over), else ``resized``."""
    angle = abs(math.degrees(math.atan2(transform[1, 0], transform[0, 0])))
    if angle > 1.0:
        return "rotated"
    scale = math.hypot(transform[0, 0], transform[1, 0])
    area_a = a.grey.size / max(a.grey.shape) ** 2 * scale * scale  # in b's frame, long side 1
    area_b = b.grey.size / max(b.grey.shape) ** 2
    if min(area_a, area_b) < 0.9 * max(area_a, area_b):
        return "cropped"
    return "edited" if edited else "resized"


RELATIONS = ("resized", "cropped", "rotated", "edited")  # dup_edges kinds a keypoint match gives


def encode(match: Match) -> float:
    """A match as the one number ``pixel_checks`` keeps: 2 x its relation's index in
    ``RELATIONS`` + its correlation (which is in (0, 1])."""
    return 2 * RELATIONS.index(match.relation) + match.correlation


def decode(score: float) -> tuple[str, float]:
    """(relation, correlation) of an :func:`encode` d match."""
    index = int(math.ceil(score) - 1) // 2
    return RELATIONS[index], score - 2 * index
