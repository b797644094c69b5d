"""The metrics taggers are judged by. Pure numpy: labels and scores in, numbers out.

Arrays: ``y`` (N, K) bool, the tags posts have; ``p`` (N, K) float, predicted probabilities.
Per tag: precision, recall, F1 and average precision (AP, the area under the precision-recall
steps, as scikit-learn computes it). Overall: macro means over tags, micro (pooled) values,
the single threshold where micro precision equals micro recall (found by bisection) with F1, F2
and MCC there, and Bookmaker's informedness (TPR + TNR - 1, macro) at fixed thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def average_precision(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(N, K) -> (K,) AP per tag; NaN for a tag no post has. Ties in scores are one step."""
    n, k = y.shape
    out = np.full(k, np.nan)
    for j in range(k):
        positives = int(y[:, j].sum())
        if positives == 0:
            continue
        order = np.argsort(-p[:, j], kind="stable")
        scores, hits = p[order, j], y[order, j].astype(np.float64)
        tp = np.cumsum(hits)
        last = np.r_[scores[1:] != scores[:-1], True]  # the end of each run of tied scores
        tp, seen = tp[last], (np.flatnonzero(last) + 1)
        precision, recall = tp / seen, tp / positives
        out[j] = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return out


def confusion(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn, tn) per tag, each (K,) int64, at ``threshold`` (predicted when p >= threshold)."""
    predicted = p >= threshold
    tp = (predicted & y).sum(axis=0, dtype=np.int64)
    fp = predicted.sum(axis=0, dtype=np.int64) - tp
    fn = y.sum(axis=0, dtype=np.int64) - tp
    tn = len(y) - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a + b), where=b > 0)


def f_beta(precision, recall, beta: float = 1.0):
    b2 = beta * beta
    return _ratio((1 + b2) * precision * recall, b2 * precision + recall)


def mcc(tp, fp, fn, tn) -> float:
    tp, fp, fn, tn = (float(x) for x in (tp, fp, fn, tn))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denominator) if denominator else 0.0


def micro_counts(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    return tuple(int(x.sum()) for x in confusion(y, p, threshold))


class MicroCounts:
    """Micro (pooled) (tp, fp, fn, tn) at any threshold, as :func:`micro_counts` gives them, from
    the scores sorted once: each threshold then costs two binary searches, not four passes over
    (N, K) (a 20,000-post x 2,000-tag report asked for ~400 thresholds: 80 s)."""

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        self._all = np.sort(p, axis=None)
        self._positive = np.sort(p[y])
        self._size = y.size

    def __call__(self, threshold: float) -> tuple[int, int, int, int]:
        at = self._all.dtype.type(threshold)
        if at < threshold:  # the smallest score of this dtype >= threshold: p >= threshold exactly
            at = np.nextafter(at, self._all.dtype.type(np.inf))
        predicted = len(self._all) - int(np.searchsorted(self._all, at, side="left"))
        tp = len(self._positive) - int(np.searchsorted(self._positive, at, side="left"))
        fp, fn = predicted - tp, len(self._positive) - tp
        return tp, fp, fn, self._size - tp - fp - fn


def threshold_where_precision_equals_recall(
    y: np.ndarray, p: np.ndarray, iterations: int = 40, counts: MicroCounts | None = None
) -> float:
    """The threshold at which micro precision equals micro recall, by bisection: raising the
    threshold raises precision and lowers recall, so their difference changes sign once."""
    counts = counts or MicroCounts(y, p)
    lo, hi = 0.0, 1.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        tp, fp, fn, _ = counts(mid)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        if precision < recall:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def informedness(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """Macro Bookmaker's informedness (TPR + TNR - 1) over tags with positives and negatives."""
    tp, fp, fn, tn = confusion(y, p, threshold)
    usable = (tp + fn > 0) & (tn + fp > 0)
    if not usable.any():
        return float("nan")
    return float(np.mean(_ratio(tp, tp + fn)[usable] + _ratio(tn, tn + fp)[usable] - 1))


@dataclass(frozen=True)
class Summary:
    posts: int
    tags: int
    threshold: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    macro_ap: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    pr_threshold: float  # where micro precision = micro recall
    f1_at_pr: float
    f2_at_pr: float
    mcc_at_pr: float
    informedness: dict[float, float]


def per_tag_table(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Columns (each (K,)): positives, precision, recall, f1, ap at ``threshold``."""
    tp, fp, fn, _ = confusion(y, p, threshold)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "positives": (tp + fn),
        "precision": precision,
        "recall": recall,
        "f1": f_beta(precision, recall),
        "ap": average_precision(y, p),
    }


def summarise(y: np.ndarray, p: np.ndarray, threshold: float, informedness_at=(0.2, 0.3, 0.5)) -> Summary:
    """Everything above for (N, K) labels and scores; tags without positives are left out of macro means."""
    table = per_tag_table(y, p, threshold)
    has = table["positives"] > 0
    counts = MicroCounts(y, p)
    tp, fp, fn, _ = counts(threshold)
    micro_p, micro_r = (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)
    at = threshold_where_precision_equals_recall(y, p, counts=counts)
    tp2, fp2, fn2, tn2 = counts(at)
    p2, r2 = (tp2 / (tp2 + fp2) if tp2 + fp2 else 0.0), (tp2 / (tp2 + fn2) if tp2 + fn2 else 0.0)

    def mean(x):
        return float(np.nanmean(x[has])) if has.any() else float("nan")

    return Summary(
        posts=len(y),
        tags=int(has.sum()),
        threshold=threshold,
        macro_precision=mean(table["precision"]),
        macro_recall=mean(table["recall"]),
        macro_f1=mean(table["f1"]),
        macro_ap=mean(table["ap"]),
        micro_precision=micro_p,
        micro_recall=micro_r,
        micro_f1=float(f_beta(micro_p, micro_r)),
        pr_threshold=at,
        f1_at_pr=float(f_beta(p2, r2)),
        f2_at_pr=float(f_beta(p2, r2, 2.0)),
        mcc_at_pr=mcc(tp2, fp2, fn2, tn2),
        informedness={t: informedness(y, p, t) for t in informedness_at},
    )


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows the true class."""
    out = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(out, (true, predicted), 1)
    return out
