"""How likely each suggestion is right: a precision estimate calibrated on the out-of-fold predictions.

The labels are noisy, so the tagger's probabilities cannot be compared with them directly. Per
tag, ``q(p)`` = P(labelled | p) is the isotonic regression of the labels on the out-of-fold
probability (pool-adjacent-violators over ``BINS`` probability bins). With class-conditional
noise (a true tag is left off with rate ``m``, a wrong one put on with rate ``w``), and the
tagger blind to a post's own label (out-of-fold), posts that miss a tag look like the posts
that carry it, and posts that carry a tag wrongly look like the posts that lack it:

- an ``add`` at p is right with probability m / (1 - m) · q / (1 - q) (the unlabelled posts at p
  hold m / (1 - m) as many true carriers as the labelled ones do),
- a ``remove`` at p with probability w / (1 - w) · (1 - q) / q,

capped at 1 (the queue is ordered by it, then by the tagger's confidence). A tag the tagger
does not know has a flat q near its base rate, so its suggestions get precision near the
board's noise rates: low, as they should be.

The noise rates are read where the tagger is sure. A tag is "sure" when its curve separates: q
reaches ``SURE_TOP`` where the top ``TOP`` of its labelled posts lie, and stays under a tenth
of its base rate where the bottom ``BOTTOM`` of its unlabelled posts lie. A sure tag's own
rates are m = 1 - q at the top and w = q at the bottom. Every other tag takes the board's: m
averaged over the sure tags (weighted by labelled posts), and the sure tags' share of labels
that are wrong, scaled by the tag's own frequency into its w. With no sure tag (a tagger that
knows nothing), ``DEFAULT_MISSING`` and ``DEFAULT_WRONG_SHARE`` stand in. Rates differ by tag
(moderators omit some tags more than others): moderators' verdicts on a tag correct its
estimates (:func:`with_feedback`).

Rare tags have too few posts for their own curve, so every tag's counts are pooled with its
frequency band's (half a decade of labelled posts): the band's counts, scaled to
``PRIOR_POSITIVES`` labelled posts, are added to the tag's own, which decides for a tag with 10
labelled posts and is lost in one with 2,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BINS = 50
TOP, BOTTOM = 0.1, 0.5  # shares of labelled / unlabelled posts where the noise rates are read
SURE_TOP = 0.5
DEFAULT_MISSING, DEFAULT_WRONG_SHARE = 0.05, 0.02  # when no tag is known well enough to read them
PRIOR_POSITIVES = 20.0  # the frequency band's weight in each tag's curve, in labelled posts


@dataclass
class TagEvidence:
    """What calibration needs from one tag, summed over posts (small: it crosses processes)."""

    positives: int
    labelled: np.ndarray  # (BINS,) posts with the label, by probability bin
    unlabelled: np.ndarray  # (BINS,) posts without it
    p_sum: np.ndarray  # (BINS,) sum of the probabilities in each bin


def tag_evidence(y: np.ndarray, p: np.ndarray) -> TagEvidence:
    """One tag over N posts: y (N,) bool labels, p (N,) out-of-fold probabilities."""
    which = np.minimum((p * BINS).astype(np.int64), BINS - 1)
    labelled = np.bincount(which[y], minlength=BINS).astype(np.float64)
    unlabelled = np.bincount(which[~y], minlength=BINS).astype(np.float64)
    p_sum = np.bincount(which, weights=p.astype(np.float64), minlength=BINS)
    return TagEvidence(int(y.sum()), labelled, unlabelled, p_sum)


def band_of(positives: int) -> int:
    """Frequency band: half decades of labelled posts (10-31, 32-99, 100-315, ...)."""
    return int(math.floor(2 * math.log10(max(positives, 1))))


def isotonic(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit of y on sorted x (pool adjacent violators); (B,) in,
    ((B,) fitted values, (B,) total weight of the pooled block each value belongs to) out."""
    levels: list[list[float]] = []  # [value, weight, count]
    for value, w in zip(y.tolist(), weight.tolist()):
        levels.append([value, w, 1])
        while len(levels) > 1 and levels[-2][0] > levels[-1][0]:
            v2, w2, c2 = levels.pop()
            v1, w1, c1 = levels[-1]
            total = w1 + w2
            levels[-1] = [(v1 * w1 + v2 * w2) / total if total else (v1 + v2) / 2, total, c1 + c2]
    if not levels:
        return np.zeros(0), np.zeros(0)
    return np.concatenate([np.full(c, v) for v, _, c in levels]), np.concatenate([np.full(c, w) for _, w, c in levels])


@dataclass(frozen=True)
class TagCurve:
    """One tag's calibration: q(p) at bin positions, and its noise rates."""

    x: np.ndarray  # (B,) mean probability of each non-empty bin, increasing
    q: np.ndarray  # (B,) P(labelled | p), non-decreasing
    block: np.ndarray  # (B,) posts (and pseudo-posts) in the pooled block q was read from
    missing_rate: float  # m: P(not labelled | truly has the tag)
    wrong_rate: float  # w: P(labelled | truly lacks it)

    def labelled_probability(self, p: np.ndarray, own_label: bool | None = None) -> np.ndarray:
        """q at each p; with ``own_label`` = True a labelled post's own label is left out of it (a
        sparse bin holding one wrong label would otherwise vouch for it). An unlabelled post's own
        0 is left in: taking it out of a block of two would make the other post's label certainty."""
        if not len(self.x):
            return np.full_like(p, 1e-6)
        q, block = np.interp(p, self.x, self.q), np.interp(p, self.x, self.block)
        if own_label is not None:
            q = np.where(block > 1.0, (q * block - float(own_label)) / np.maximum(block - 1.0, 1e-9), q)
        return np.clip(q, 1e-6, 1.0 - 1e-6)

    def precision(self, action: str, p: np.ndarray) -> np.ndarray:
        """(M,) probabilities of the tag -> (M,) chance that the ``action`` suggested on such a post
        is right (an add is suggested on a post without the tag, a remove on one with it)."""
        q = self.labelled_probability(np.asarray(p, dtype=np.float64), own_label=True if action == "remove" else None)
        if action == "add":
            share = self.missing_rate / (1.0 - self.missing_rate) * q / (1.0 - q)
        else:
            share = self.wrong_rate / (1.0 - self.wrong_rate) * (1.0 - q) / q
        return np.minimum(share, 1.0)


def _tail_weights(counts: np.ndarray, share: float) -> np.ndarray:
    """Weights over bins covering the first ``share`` of ``counts`` (in order), the last bin in part."""
    total = counts.sum()
    if total <= 0:
        out = np.zeros_like(counts)
        out[0] = 1.0
        return out
    before = np.cumsum(counts) - counts
    return np.clip(share * total - before, 0.0, counts)


@dataclass(frozen=True)
class _Fit:
    x: np.ndarray
    q: np.ndarray
    block: np.ndarray
    top: float  # q where the top TOP of the labelled posts lie
    bottom: float  # q where the bottom BOTTOM of the unlabelled posts lie
    labelled: float
    posts: float

    @property
    def sure(self) -> bool:
        """The curve separates: high where the labelled posts are, far under the base rate below."""
        return self.top >= SURE_TOP and self.bottom <= 0.1 * self.labelled / max(self.posts, 1.0)


def _fit(labelled: np.ndarray, unlabelled: np.ndarray, p_sum: np.ndarray) -> _Fit:
    posts = labelled + unlabelled
    used = posts > 0
    x = p_sum[used] / posts[used]
    q, block = isotonic(x, labelled[used] / posts[used], posts[used])
    if not len(q):
        return _Fit(x, q, block, 0.0, 0.0, 0.0, 0.0)
    top = float(np.average(q, weights=_tail_weights(labelled[used][::-1], TOP)[::-1])) if labelled.sum() else 0.0
    bottom = float(np.average(q, weights=_tail_weights(unlabelled[used], BOTTOM))) if unlabelled.sum() else 1.0
    return _Fit(x, q, block, top, bottom, float(labelled.sum()), float(posts.sum()))


class Calibration:
    """Per-tag curves, each pooled with its frequency band's, and the board's noise rates."""

    def __init__(self, evidence: dict[str, TagEvidence]) -> None:
        bands: dict[int, list[np.ndarray]] = {}
        for e in evidence.values():
            parts = bands.setdefault(band_of(e.positives), [np.zeros(BINS), np.zeros(BINS), np.zeros(BINS)])
            for total, part in zip(parts, (e.labelled, e.unlabelled, e.p_sum)):
                total += part
        fits: dict[str, _Fit] = {}
        for tag, e in evidence.items():
            labelled, unlabelled, p_sum = bands[band_of(e.positives)]
            scale = PRIOR_POSITIVES / max(labelled.sum(), 1.0)
            fits[tag] = _fit(e.labelled + scale * labelled, e.unlabelled + scale * unlabelled, e.p_sum + scale * p_sum)
        sure = [f for f in fits.values() if f.sure]
        self.sure_tags = len(sure)
        weight = sum(f.labelled for f in sure)
        if weight > 0:
            self.missing_rate = sum(f.labelled * (1.0 - f.top) for f in sure) / weight
            self.wrong_share = sum(f.bottom * (f.posts - f.labelled) for f in sure) / weight
        else:
            self.missing_rate, self.wrong_share = DEFAULT_MISSING, DEFAULT_WRONG_SHARE
        self.missing_rate = float(np.clip(self.missing_rate, 1e-4, 0.9))
        self.curves = {}
        for tag, f in fits.items():
            missing = 1.0 - f.top if f.sure else self.missing_rate
            wrong = f.bottom if f.sure else self.wrong_share * f.labelled / max(f.posts - f.labelled, 1.0)
            self.curves[tag] = TagCurve(f.x, f.q, f.block, float(np.clip(missing, 1e-4, 0.9)), float(np.clip(wrong, 1e-6, 0.9)))

    def precision(self, tag: str, action: str, p: np.ndarray) -> np.ndarray:
        return self.curves[tag].precision(action, p)


def with_feedback(precision: float, accepted: int, rejected: int, weight: float = 10.0) -> float:
    """A precision estimate updated by moderators' verdicts on the same tag and action so far: the
    estimate counts as ``weight`` decisions' worth of prior, so ten verdicts move it half way."""
    return (accepted + weight * precision) / (accepted + rejected + weight)
