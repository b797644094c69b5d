"""Label issues per tag with cleanlab, on out-of-fold probabilities. Runs in worker processes.

Each tag is its own binary problem (present / absent), as cleanlab's multi-label tooling
treats classes one-vs-rest: ``cleanlab.filter.find_label_issues`` flags the posts whose label
disagrees with the confident joint of labels and probabilities, and
``cleanlab.rank.get_label_quality_scores`` scores every label (low: probably wrong). A flagged
absent tag becomes an ``add``, a flagged present tag a ``remove``. Whether a flag is shown is
decided later, by its calibrated precision (:mod:`curation.suggest.calibrate`), for which each
tag also returns its evidence.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibrate import TagEvidence, tag_evidence
from .reuse import tag_floor


@dataclass(frozen=True)
class TagTask:
    """One parallel task: tags [start, stop) of a prediction store (picklable)."""

    folder: str
    start: int
    stop: int
    positives: list[np.ndarray]  # per tag: positions (in the store's post order) of posts that have it
    predicted: np.ndarray  # (N,) bool: posts the store has probabilities for
    filter_by: str  # [suggest] cleanlab_filter
    reuse_floor: dict[int, float]  # tags whose last flags may stand: their floor (reuse.py)
    new_rows: np.ndarray  # positions of the posts new since those flags


def tag_issues(y: np.ndarray, p: np.ndarray, filter_by: str) -> tuple[np.ndarray, ...]:
    """One tag over N posts. y : (N,) bool labels; p : (N,) float probabilities of the tag.

    Returns (rows, is_add, label_quality) for the labels cleanlab flags, each (M,), lowest
    label quality first.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    empty = (np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.float32))
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return empty  # cleanlab needs both classes to estimate how noisy each is
    labels = y.astype(np.int64)
    probabilities = np.stack([1.0 - p, p], axis=1).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns on classes it thinks too small; we rank anyway
        flagged = find_label_issues(labels, probabilities, filter_by=filter_by, n_jobs=1)
        quality = get_label_quality_scores(labels, probabilities)
    rows = np.flatnonzero(flagged)
    rows = rows[np.argsort(quality[rows], kind="stable")]
    return rows, ~y[rows], quality[rows].astype(np.float32)


def run_task(task: TagTask) -> tuple[list[tuple[int, int, bool, float, float]], dict[int, TagEvidence], dict[int, float]]:
    """For the task's tags: the flagged labels as (post position, tag index, is_add, probability,
    label_quality), each tag's :class:`TagEvidence` for calibration, and the floor
    (:func:`~curation.suggest.reuse.tag_floor`) of each tag cleanlab ran on. A tag in
    ``reuse_floor`` whose new posts all score under its floor gets evidence only (no floor):
    its last flags stand."""
    from ..tagger.store import PredictionStore

    store = PredictionStore(Path(task.folder))
    flagged, evidence, floors = [], {}, {}
    rows_with_scores = np.flatnonzero(task.predicted)
    for tag in range(task.start, task.stop):
        positives = task.positives[tag - task.start]
        if not len(positives):
            continue
        column = np.asarray(store.scores(tag), dtype=np.float32)
        scores = column[rows_with_scores]
        y = np.zeros(len(task.predicted), dtype=bool)
        y[positives] = True
        labels = y[rows_with_scores]
        evidence[tag] = tag_evidence(labels, scores)
        floor = task.reuse_floor.get(tag)
        if floor is not None and not (column[task.new_rows] >= floor).any():
            continue
        rows, is_add, quality = tag_issues(labels, scores, task.filter_by)
        floors[tag] = tag_floor(labels, scores, scores[rows[is_add]])
        flagged.extend(
            zip(rows_with_scores[rows].tolist(), [tag] * len(rows), is_add.tolist(), scores[rows].tolist(), quality.tolist())
        )
    return flagged, evidence, floors
