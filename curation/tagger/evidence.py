"""Evidence beside the head, blended into each fold's held-out probabilities.

- **Neighbours**: the labels of the ``k`` nearest posts of the other folds in embedding space
  (inner product on the L2-normalised vectors: exact by torch matrix products where the index is
  flat, faiss IVF on large boards, the GPU when faiss sees one), weighted by
  softmax(similarity / temperature). A few-shot signal: a tag with a handful of posts is learnt
  poorly by a head, but its posts' close neighbours often carry it.
- **Duplicate groups**: the share of the other members of the post's duplicate group that carry
  each tag. Members are in the same fold (folds are dealt by unit), so this is other people's
  tagging of the same picture, never the post's own label.
- **Label context**: what the post's other labels say of each tag (:mod:`.label_context`), from a
  model fitted on the other folds' posts, the tag's own label left out.

p = (1 - a) * head + a * neighbours, then for posts in a group p = (1 - b) * p + b * group share,
with a = ``[tagger] neighbour_weight`` and b = ``[tagger] group_weight``; last, the label context
is added to p's log-odds as a likelihood ratio times c = ``[tagger] context_weight`` (0 turns any
of them off). Measured on synthetic boards in BENCHMARKS.md ("Suggestion quality").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import TaggerConfig
from .heads import csr_entries
from .label_context import LabelContext, blend_context

_DEFAULTS = TaggerConfig()
TEMPERATURE = 0.05  # softmax temperature over cosine similarities; not a setting (measured once, BENCHMARKS.md)


@dataclass(frozen=True)
class EvidenceOptions:
    """How much neighbour and group evidence to blend in; every default is ``[tagger]``'s."""

    neighbours: int = _DEFAULTS.neighbours
    temperature: float = TEMPERATURE
    neighbour_weight: float = _DEFAULTS.neighbour_weight
    group_weight: float = _DEFAULTS.group_weight
    context_weight: float = _DEFAULTS.context_weight

    @classmethod
    def from_config(cls, cfg: TaggerConfig) -> EvidenceOptions:
        return cls(
            neighbours=cfg.neighbours,
            neighbour_weight=cfg.neighbour_weight,
            group_weight=cfg.group_weight,
            context_weight=cfg.context_weight,
        )


def label_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, weights: np.ndarray, tags: int) -> np.ndarray:
    """Weighted sums of CSR label rows: rows (B, k) post indices, weights (B, k) -> (B, tags) float32."""
    out = np.zeros((rows.shape[0], tags), dtype=np.float32)
    flat_rows, flat_weights = rows.ravel(), weights.ravel()
    which, entries = csr_entries(indptr, flat_rows)
    np.add.at(out, (which // rows.shape[1], indices[entries]), flat_weights[which])
    return out


class FoldEvidence:
    """Neighbour, group and label-context evidence for one fold's held-out posts."""

    def __init__(
        self,
        vectors: np.ndarray,
        indptr: np.ndarray,
        indices: np.ndarray,
        tags: int,
        training: np.ndarray,
        group: np.ndarray,
        options: EvidenceOptions,
        context: LabelContext | None = None,
    ) -> None:
        """vectors (N, D) L2-normalised; training (T,) post indices the fold may look at; group (N,)
        duplicate-group number per post, -1 for none; context: the fold's label-context model
        (fitted on ``training``), None for none."""
        self.vectors, self.indptr, self.indices, self.tags = vectors, indptr, indices, tags
        self.training, self.group, self.options, self.context = training, group, options, context
        self.index = None
        if options.neighbour_weight > 0 and len(training):
            from ..dedupe.semantic import build_index

            self.index, _ = build_index(vectors[training])
        members: dict[int, list[int]] = {}
        for post in np.flatnonzero(group >= 0).tolist():
            members.setdefault(int(group[post]), []).append(post)
        self.members = members

    def neighbour_share(self, rows: np.ndarray) -> np.ndarray:
        """(B,) held-out posts -> (B, tags): the softmax-weighted labels of their nearest training posts."""
        import faiss

        from ..dedupe.semantic import flat_knn, knn

        k = min(self.options.neighbours, len(self.training))
        search = flat_knn if isinstance(self.index, faiss.IndexFlat) else knn  # IVF, or a GPU index
        sims, ids = search(self.index, self.vectors[rows], k)
        valid = ids >= 0
        scaled = np.where(valid, sims, -np.inf) / self.options.temperature
        weights = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        return label_rows(
            self.indptr, self.indices, self.training[np.where(valid, ids, 0)], weights.astype(np.float32), self.tags
        )

    def group_share(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B,) posts -> (in a group (B,) bool, (B, tags) share of the other members carrying each tag)."""
        share = np.zeros((len(rows), self.tags), dtype=np.float32)
        grouped = np.zeros(len(rows), dtype=bool)
        for i, post in enumerate(rows.tolist()):
            mates = [m for m in self.members.get(int(self.group[post]), ()) if m != post] if self.group[post] >= 0 else []
            if mates:
                grouped[i] = True
                mates_arr = np.array(mates)[None, :]
                share[i] = label_rows(
                    self.indptr, self.indices, mates_arr, np.full(mates_arr.shape, 1.0 / len(mates), np.float32), self.tags
                )[0]
        return grouped, share

    def blend(self, rows: np.ndarray, head: np.ndarray) -> np.ndarray:
        """(B,) held-out posts and their (B, tags) head probabilities -> (B, tags) float32 blended."""
        p = head.astype(np.float32)
        a, b = self.options.neighbour_weight, self.options.group_weight
        if self.index is not None:
            p = (1.0 - a) * p + a * self.neighbour_share(rows)
        if b > 0:
            grouped, share = self.group_share(rows)
            p[grouped] = (1.0 - b) * p[grouped] + b * share[grouped]
        p = np.clip(p, 0.0, 1.0)
        if self.context is not None and self.options.context_weight > 0:
            p = blend_context(p, self.context.evidence(self.indptr, self.indices, rows), self.options.context_weight)
        return p
