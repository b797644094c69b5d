"""Recoloured copies: a file compared with another whose hue was turned.

A hue turned by a few degrees moves each colour's grey by its own step: a red region darkens
while a blue one lightens. The file comparison of :mod:`.keypoints` fits one gain and offset
between two grey pictures, which cannot follow that, so a crop that was also recoloured leaves
whole regions differing (3-15% of the overlap on the synthetic boards), more than a look-alike's
changed mouth. Here one picture's hue is turned by the angle that best explains the other's grey,
found in one least-squares fit: each pixel's grey moves with the turn at its own rate
(:func:`grey_per_degree`), so the other's grey is a gain times (grey + angle x rate) plus an
offset. The angle must be small: a look-alike whose hair went from cyan to pink
differs by a turn no repost makes, and a mapping free per colour would explain it as well.
"""

from __future__ import annotations

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's mode L weighs red, green, blue
STEP = 2.0  # degrees either way over which a pixel's grey per degree is taken
REFITS = 6  # robust least-squares rounds, each over the pixels the last fit explains
MIN_TURN_GREY = 0.25  # grey levels a turn of 60 degrees moves a picture's pixels by, on average: below, no hue
# to turn (a chroma of 2 levels, weighed as blue, the channel that moves grey least)
CHEAP_SHARE = 0.8  # a turn must leave at most this share of the pixels one gain and offset leave, before
# the full comparison is made (look-alikes: the turn explains little; recoloured copies: 0.1-0.5)


def hue_turned(colour: np.ndarray, degrees: float) -> np.ndarray:
    """(h, w, 3) float32 RGB (0-255) with every pixel's hue turned by ``degrees`` (HSV: saturation
    and value kept)."""
    hsv = cv2.cvtColor(colour / np.float32(255), cv2.COLOR_RGB2HSV)  # float input: hue in degrees
    hsv[..., 0] = (hsv[..., 0] + np.float32(degrees)) % np.float32(360)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * np.float32(255)


def grey_per_degree(colour: np.ndarray) -> np.ndarray:
    """(h, w) float32: how fast each pixel's grey moves as its hue turns, per degree, for colours
    (h, w, 3) float32, taken over ``STEP`` degrees either way. In HSV the largest and smallest
    channels stay while the middle one moves by the chroma (largest less smallest) over 60
    degrees, so this is nearly constant within a sixth of the hue circle. (The exact derivative
    needs each pixel's channel order: numpy's per-pixel argmax is four times slower than two
    conversions by OpenCV.)"""
    return (hue_turned(colour, STEP) @ LUMA - hue_turned(colour, -STEP) @ LUMA) / np.float32(2 * STEP)


def turned_grey(
    colour_a: np.ndarray, grey_b: np.ndarray, transform: np.ndarray, blur: float, residual: float, max_turn: float
) -> tuple[float, np.ndarray] | None:
    """(the angle in degrees, picture a's grey (h, w) float32 with its hue turned by it): the turn
    of a's colours (h, w, 3) float32 that best explains picture b's grey ``grey_b`` (H, W)
    float32 where a, warped by ``transform`` (2, 3: a's frame to b's), covers b. Fitted by least
    squares, then again over the pixels predicted within ``residual`` grey spreads of b (the rest
    differ for another reason), both sides blurred by ``blur`` pixels first, on every other pixel
    each way. None when a is nearly grey, the two hardly overlap, or the angle exceeds
    ``max_turn``."""
    rate = grey_per_degree(colour_a)
    if float(np.abs(rate).mean()) * 60 < MIN_TURN_GREY:
        return None
    h, w = grey_b.shape
    to_b = transform.astype(np.float64)
    coverage = cv2.warpAffine(np.ones(colour_a.shape[:2], np.float32), to_b, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    valid = cv2.erode((coverage > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)[::2, ::2]
    if valid.sum() < 200:
        return None
    grey = colour_a @ LUMA
    warped = cv2.GaussianBlur(cv2.warpAffine(np.dstack([grey, rate]), to_b, (w, h), flags=cv2.INTER_LINEAR), (0, 0), blur)
    x = np.empty((int(valid.sum()), 3), np.float64)  # (n, 3): grey, rate, 1
    x[:, :2], x[:, 2] = warped[::2, ::2][valid], 1.0
    y = cv2.GaussianBlur(grey_b, (0, 0), blur)[::2, ::2][valid].astype(np.float64)
    tolerance = residual * float(y.std())
    weights, explained = _robust_fit(x, y, tolerance)
    if weights is None:
        return None
    gain, per_degree = weights[0], weights[1]
    if gain < 0.2:  # b's grey does not follow a's
        return None
    angle = float(per_degree / gain)
    if abs(angle) > max_turn:
        return None
    _, explained_unturned = _robust_fit(x[:, ::2], y, tolerance)  # grey and 1: one gain and offset
    if 1.0 - explained > CHEAP_SHARE * (1.0 - explained_unturned):  # the turn hardly helps: spare the comparison
        return None
    return angle, hue_turned(colour_a, angle) @ LUMA


def _robust_fit(x: np.ndarray, y: np.ndarray, tolerance: float) -> tuple[np.ndarray | None, float]:
    """(weights (k,), share of the n pixels predicted within ``tolerance``): least squares of
    ``y`` (n,) on ``x`` (n, k), refitted over the pixels the last fit explains; None weights
    when the pixels leave the fit undetermined."""
    kept = np.ones(len(y), dtype=bool)
    weights = None
    for _ in range(REFITS):
        if kept.sum() < 200:
            break
        inside = x[kept]
        try:
            weights = np.linalg.solve(inside.T @ inside, inside.T @ y[kept])
        except np.linalg.LinAlgError:  # a flat picture: nothing to weigh
            return None, 0.0
        explained = np.abs(x @ weights - y) <= tolerance
        if (explained == kept).all():
            break
        kept = explained
    return weights, float(kept.mean())
