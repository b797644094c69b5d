"""The compiled statistics answer what the numpy expressions they replace answered."""

import numpy as np
import pytest

from curation.dedupe import moments
from curation.dedupe.align import _best_correlation, _best_correlation_in_opaque


def numpy_correlation(a, b, mask):
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > len(x) else -1.0


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_masked_correlation_matches_numpy(dtype):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (40, 50)).astype(dtype)
    b = (0.7 * a + rng.normal(0, 20, a.shape)).clip(0, 255).astype(dtype)
    mask = rng.random(a.shape) > 0.3
    # whole arrays and strided views (the refined placement passes slices of a larger thumbnail)
    for x, y, m in ((a, b, mask), (a[3:30, 5:45], b[3:30, 5:45], mask[3:30, 5:45])):
        assert moments.masked_correlation(x, y, m) == pytest.approx(numpy_correlation(x, y, m), abs=1e-12)
    assert 0.5 < moments.masked_correlation(a, b, mask) < 0.99


def test_masked_correlation_of_flat_or_empty_is_minus_one():
    a = np.full((10, 10), 100, np.uint8)
    b = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert moments.masked_correlation(a, b, np.ones((10, 10), bool)) == -1.0
    assert moments.masked_correlation(b, b, np.zeros((10, 10), bool)) == -1.0
    assert moments.masked_correlation(b, b, np.ones((10, 10), bool)) == pytest.approx(1.0)


def test_line_fit_and_within():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, 5000)
    y = 0.8 * x + 12 + rng.normal(0, 2, x.size)
    y[:400] = 0.0  # a bar painted over: left out by the mask
    where = np.ones(x.size, bool)
    where[:400] = False
    gain, offset, spread, count = moments.line_fit(x, y, where)
    reference_gain, reference_offset = np.polyfit(x[where], y[where], 1)
    assert (gain, offset) == pytest.approx((reference_gain, reference_offset), rel=1e-9)
    assert spread == pytest.approx(y[where].std(), rel=1e-9) and count == where.sum()
    out = np.empty(x.size, bool)
    held = moments.within(x, y, gain, offset, 6.0, out)
    np.testing.assert_array_equal(out, np.abs(y - (gain * x + offset)) <= 6.0)
    assert held == out.sum() and not out[:400].any()
    assert moments.line_fit(x, y, np.zeros(x.size, bool)) == (0.0, 0.0, 0.0, 0)


def test_spread_matches_numpy():
    a = np.random.default_rng(5).normal(100, 30, (33, 47)).astype(np.float32)
    assert moments.spread(a[1:-1, 1:-1]) == pytest.approx(float(a[1:-1, 1:-1].astype(np.float64).std()), rel=1e-9)


def test_placement_search_inside_an_opaque_picture_is_the_masked_search():
    """The opaque-outer route finds the placement and score a brute force over every placement finds."""
    rng = np.random.default_rng(11)
    outer = rng.integers(0, 256, (40, 40)).astype(np.uint8)
    outer[5:30, 10:34] = (outer[5:30, 10:34] // 2 + 60).astype(np.uint8)
    inner = (outer[9:33, 14:36] * 0.9 + rng.normal(0, 6, (24, 22))).clip(0, 255).astype(np.uint8)
    inner_mask = np.ones(inner.shape, bool)
    inner_mask[[0, -1], :] = False  # the rim left out, as alignment() does
    inner_mask[:, [0, -1]] = False
    scores = {
        (dy, dx): numpy_correlation(outer[dy : dy + 24, dx : dx + 22], inner, inner_mask)
        for dy in range(40 - 24 + 1)
        for dx in range(40 - 22 + 1)
    }
    place = max(scores, key=scores.get)
    fast = _best_correlation_in_opaque(outer, inner, inner_mask, 150)
    assert fast[1:] == place == (9, 14) and fast[0] == pytest.approx(scores[place], abs=1e-12)
    assert _best_correlation(outer, np.ones(outer.shape, bool), inner, inner_mask, 150) == fast
    # a hole in the outer mask takes the general route, which agrees away from the hole
    holed = np.ones(outer.shape, bool)
    holed[0, 0] = False
    general = _best_correlation(outer, holed, inner, inner_mask, 150)
    assert general[1:] == (9, 14) and general[0] == pytest.approx(fast[0], abs=1e-12)
