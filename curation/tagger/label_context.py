"""Label-context evidence: each tag predicted from the post's other labels.

Tags travel together: a post labelled ``school_uniform`` usually carries ``skirt``, a character
tag names the hair colour. One fold's context model scores every tag from the rest of the
post's label vector x (K,), fitted on the other folds' posts:

    score_j(x) = sum_{i in labels, i != j} B[i, j]

B is the closed-form ridge regression of each tag on all the others with a zero diagonal (the
"EASE" item-item model of recommender systems, Steck 2019): with G = X^T X + lambda I over the
training posts' labels X (N x K) and P = G^-1, B = -P / diag(P) column by column, B[j, j] = 0.
One K x K inverse a fold (about a second at 2,000 tags), no optimiser to tune. The zero diagonal
means a held-out post's own label of tag j says nothing of its score for j: a wrong tag is
judged by the company it keeps, and a missing one is suggested by the tags that usually come
with it. Each tag's scores are then turned into log-odds by a logistic fit on the training posts
(a_j * score + c_j; Newton steps for every tag at once).

The evidence enters as a likelihood ratio: the context's log-odds less the tag's base log-odds
is added to the tagger's log-odds, times ``[tagger] context_weight``. Measured on three
5,000-post synth boards in BENCHMARKS.md ("Suggestion quality").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .heads import csr_entries, dense_labels

RIDGE = 8.0  # lambda, in posts: smooths what rare tag pairs say (measured: BENCHMARKS.md)
CALIBRATION_POSTS = 10_000  # the logistic fit reads at most this many training posts (its time: ~10 s at 2,000 tags)
NEWTON_STEPS = 10
HALVINGS = 20  # a Newton step is halved at most this often (where a tag saturates, its curvature is tiny and the step huge)
SLOPE_PRIOR = 0.01  # an L2 pull of each slope towards 0: a tag whose carriers all score alike does not saturate
EPSILON = 1e-4  # probabilities are clipped to [EPSILON, 1 - EPSILON] before taking log-odds


@dataclass
class LabelContext:
    """One fold's context model over K tags."""

    weights: np.ndarray  # (K, K) float32 B: row i is what carrying tag i adds to each tag's score; zero diagonal
    slope: np.ndarray  # (K,) float32 a: score -> log-odds
    intercept: np.ndarray  # (K,) float32 c
    prior: np.ndarray  # (K,) float32: each tag's share of the training posts

    def scores(self, indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(B,) CSR rows -> (B, K) float32 scores, each tag's own label left out (B's diagonal is 0)."""
        return _label_matrix(indptr, indices, rows, len(self.prior), np.float32) @ self.weights

    def evidence(self, indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(B,) CSR rows -> (B, K) float32: the context's log-odds less the tag's base log-odds."""
        return self.slope * self.scores(indptr, indices, rows) + self.intercept - logit(self.prior)

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights.astype(np.float16), slope=self.slope, intercept=self.intercept, prior=self.prior)

    @classmethod
    def load(cls, path: Path) -> LabelContext | None:
        if not path.is_file():
            return None
        with np.load(path) as saved:
            return cls(saved["weights"].astype(np.float32), saved["slope"], saved["intercept"], saved["prior"])


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return (np.log(p) - np.log1p(-p)).astype(np.float32)


def fit_label_context(
    indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, tags: int, seed: int = 0, ridge: float = RIDGE
) -> LabelContext:
    """Fit the context model on the posts ``rows`` (CSR labels over ``tags`` tags)."""
    x = _label_matrix(indptr, indices, rows, tags, np.float64)
    gram = (x.T @ x).toarray()
    prior = (np.diag(gram) / max(len(rows), 1)).astype(np.float32)
    gram[np.diag_indices(tags)] += ridge
    inverse = np.linalg.inv(gram)
    weights = (-inverse / np.diag(inverse)[None, :]).astype(np.float32)
    weights[np.diag_indices(tags)] = 0.0
    sample = rows
    if len(rows) > CALIBRATION_POSTS:
        sample = np.sort(np.random.default_rng(seed).choice(rows, CALIBRATION_POSTS, replace=False))
    model = LabelContext(weights, np.zeros(tags, np.float32), logit(prior), prior)
    model.slope, model.intercept = _logistic_per_tag(
        model.scores(indptr, indices, sample), dense_labels(indptr, indices, sample, tags), prior
    )
    return model


def _label_matrix(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, tags: int, dtype):
    """(len(rows), tags) scipy CSR 0/1 matrix of the given rows' labels."""
    from scipy import sparse

    which, entries = csr_entries(indptr, rows)
    return sparse.csr_matrix((np.ones(len(entries), dtype), (which, indices[entries])), shape=(len(rows), tags))


def _logistic_per_tag(score: np.ndarray, y: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """score, y (n, K) float32 (y 0/1) -> (slope, intercept) (K,) each: per-tag logistic regression of y on score,
    Newton's method on every tag at once (a step halved, per tag, until the loss falls), the slope
    held >= 0 and pulled towards 0 by SLOPE_PRIOR."""
    target = y.astype(np.float32, copy=False)

    def loss(columns: np.ndarray, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        z = score[:, columns] * a.astype(np.float32) + c.astype(np.float32)
        return (np.logaddexp(0.0, z) - target[:, columns] * z).sum(0, dtype=np.float64) + 0.5 * SLOPE_PRIOR * a * a

    # the intercept stays within the log-odds of EPSILON: a tag no training post carries (or every
    # one does) would run it off to infinity, and separable tags would trade it against the slope
    bound = float(-logit(np.array([EPSILON]))[0])
    every = np.arange(score.shape[1])
    slope = np.zeros(score.shape[1])
    intercept = logit(prior).astype(np.float64)
    current = loss(every, slope, intercept)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(score * slope.astype(np.float32) + intercept.astype(np.float32))))
        w = p * (1.0 - p)
        residual = p - target
        g_a = (residual * score).sum(0, dtype=np.float64) + SLOPE_PRIOR * slope
        g_c = residual.sum(0, dtype=np.float64)
        h_aa = (w * score * score).sum(0, dtype=np.float64) + SLOPE_PRIOR
        h_ac = (w * score).sum(0, dtype=np.float64)
        h_cc = w.sum(0, dtype=np.float64) + 1e-6
        det = h_aa * h_cc - h_ac * h_ac
        step_a, step_c = -(h_cc * g_a - h_ac * g_c) / det, -(h_aa * g_c - h_ac * g_a) / det
        pending = every
        for _ in range(HALVINGS):
            a = np.maximum(slope[pending] + step_a[pending], 0.0)
            c = np.clip(intercept[pending] + step_c[pending], -bound, bound)
            tried = loss(pending, a, c)
            better = tried <= current[pending] + 1e-6 * np.abs(current[pending])  # float32 sums: ties count
            done = pending[better]
            slope[done], intercept[done], current[done] = a[better], c[better], tried[better]
            pending = pending[~better]
            if not len(pending):
                break
            step_a[pending] /= 2
            step_c[pending] /= 2
    return slope.astype(np.float32), intercept.astype(np.float32)


def blend_context(p: np.ndarray, evidence: np.ndarray, weight: float) -> np.ndarray:
    """(B, K) probabilities and (B, K) context evidence (log-odds ratios) -> (B, K) float32."""
    z = logit(p) + weight * evidence
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
