"""Means, spreads, correlations and line fits over small arrays, compiled.

The pixel checks ask these of thumbnails (64 x 64) and masked parts of them hundreds of
thousands of times on a 20,000-post board; numpy's per-call overhead (boolean indexing into
copies, then a reduction per statistic) was most of their cost. Each kernel walks its arrays
once or twice in float64 and returns what the numpy expression it replaces returned, up to
the order of summation.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def masked_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Normalised cross-correlation of two (h, w) arrays over ``mask`` (h, w) bool; -1 when
    either is flat there (a spread under one grey level a pixel) or the mask is empty."""
    h, w = a.shape
    n = 0
    sa = 0.0
    sb = 0.0
    for y in range(h):
        for x in range(w):
            if mask[y, x]:
                n += 1
                sa += a[y, x]
                sb += b[y, x]
    if n == 0:
        return -1.0
    ma, mb = sa / n, sb / n
    saa = 0.0
    sbb = 0.0
    sab = 0.0
    for y in range(h):
        for x in range(w):
            if mask[y, x]:
                da = a[y, x] - ma
                db = b[y, x] - mb
                saa += da * da
                sbb += db * db
                sab += da * db
    denominator = math.sqrt(saa * sbb)
    return sab / denominator if denominator > n else -1.0


@numba.njit(cache=True, nogil=True)
def line_fit(x: np.ndarray, y: np.ndarray, where: np.ndarray) -> tuple[float, float, float, int]:
    """(gain, offset, spread of y, count): least squares ``y ~ gain x + offset`` over the
    elements of the 1-D arrays ``x``, ``y`` where ``where`` (bool, same length) holds, and the
    standard deviation of ``y`` there; (0, 0, 0, 0) for none."""
    n = 0
    sx = 0.0
    sy = 0.0
    for k in range(len(x)):
        if where[k]:
            n += 1
            sx += x[k]
            sy += y[k]
    if n == 0:
        return 0.0, 0.0, 0.0, 0
    mx, my = sx / n, sy / n
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    for k in range(len(x)):
        if where[k]:
            dx = x[k] - mx
            dy = y[k] - my
            sxx += dx * dx
            syy += dy * dy
            sxy += dx * dy
    gain = (sxy / n) / max(sxx / n, 1e-9)
    return gain, my - gain * mx, math.sqrt(syy / n), n


@numba.njit(cache=True, nogil=True)
def within(x: np.ndarray, y: np.ndarray, gain: float, offset: float, tolerance: float, out: np.ndarray) -> int:
    """``out[k] = |y[k] - (gain x[k] + offset)| <= tolerance`` over 1-D ``x``, ``y``; how many hold."""
    count = 0
    for k in range(len(x)):
        out[k] = abs(y[k] - (gain * x[k] + offset)) <= tolerance
        count += out[k]
    return count


@numba.njit(cache=True, nogil=True)
def spread(a: np.ndarray) -> float:
    """The standard deviation of all of ``a`` (h, w)."""
    h, w = a.shape
    total = 0.0
    for y in range(h):
        for x in range(w):
            total += a[y, x]
    mean = total / (h * w)
    squares = 0.0
    for y in range(h):
        for x in range(w):
            d = a[y, x] - mean
            squares += d * d
    return math.sqrt(squares / (h * w))
