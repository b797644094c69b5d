"""Label issues per tag with cleanlab, on out-of-fold probabilities. Runs in worker processes.

Each tag is its own binary problem (present / absent), as cleanlab's multi-label tooling
treats classes one-vs-rest: ``cleanlab.filter.find_label_issues`` flags the posts whose label
disagrees with the confident joint of labels and probabilities, and
``cleanlab.rank.get_label_quality_scores`` scores every label (low: probably wrong). A flagged
absent tag becomes an ``add``, a flagged present tag a ``remove``; flags below
``min_confidence`` are dropped and each tag keeps its ``max_per_tag`` lowest-quality ones
(cleanlab over-flags rare tags, so the ranking, not the raw flag, decides what is shown).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TagTask:
    """One parallel task: tags [start, stop) of a prediction store (picklable)."""

    folder: str
    start: int
    stop: int
    positives: list[np.ndarray]  # per tag: positions (in the store's post order) of posts that have it
    predicted: np.ndarray  # (N,) bool: posts the store has probabilities for
    min_confidence: float
    max_per_tag: int
    filter_by: str = "prune_by_noise_rate"


def tag_issues(
    y: np.ndarray, p: np.ndarray, min_confidence: float, max_per_tag: int, filter_by: str = "prune_by_noise_rate"
) -> tuple[np.ndarray, ...]:
    """One tag over N posts. y : (N,) bool labels; p : (N,) float probabilities of the tag.

    Returns (rows, is_add, confidence, label_quality), each (M,), M <= max_per_tag, best first.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    empty = (np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.float32), np.zeros(0, np.float32))
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return empty  # cleanlab needs both classes to estimate how noisy each is
    labels = y.astype(np.int64)
    probabilities = np.stack([1.0 - p, p], axis=1).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns on classes it thinks too small; we rank anyway
        flagged = find_label_issues(labels, probabilities, filter_by=filter_by, n_jobs=1)
        quality = get_label_quality_scores(labels, probabilities)
    confidence = np.where(y, 1.0 - p, p)
    rows = np.flatnonzero(flagged & (confidence >= min_confidence))
    rows = rows[np.argsort(quality[rows], kind="stable")][:max_per_tag]
    return rows, ~y[rows], confidence[rows].astype(np.float32), quality[rows].astype(np.float32)


def run_task(task: TagTask) -> list[tuple[int, int, bool, float, float, float]]:
    """(post position, tag index, is_add, confidence, label_quality, tag AP) for the task's tags.

    The tag's average precision (of its probabilities against the current labels) says how well
    the tagger knows the tag at all; suggestions are ranked by confidence times it, so that a
    tag the model cannot predict does not crowd the top with confident-looking flags.
    """
    from ..tagger.metrics import average_precision
    from ..tagger.store import PredictionStore

    store = PredictionStore(Path(task.folder))
    size = store.meta["chunk_tags"]
    out = []
    rows_with_scores = np.flatnonzero(task.predicted)
    for tag in range(task.start, task.stop):
        scores = np.asarray(store.chunk(tag // size)[tag % size], dtype=np.float32)[rows_with_scores]
        y = np.zeros(len(task.predicted), dtype=bool)
        y[task.positives[tag - task.start]] = True
        labels = y[rows_with_scores]
        rows, is_add, confidence, quality = tag_issues(labels, scores, task.min_confidence, task.max_per_tag, task.filter_by)
        if len(rows):
            ap = float(average_precision(labels[:, None], scores[:, None])[0])
            out.extend(
                zip(
                    rows_with_scores[rows].tolist(),
                    [tag] * len(rows),
                    is_add.tolist(),
                    confidence.tolist(),
                    quality.tolist(),
                    [ap] * len(rows),
                )
            )
    return out
