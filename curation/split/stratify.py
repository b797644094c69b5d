"""Group-aware multi-label iterative stratification (Sechidis, Tsoumakas & Vlahavas, 2011).

Pure: arrays in, split indices out. The units are groups of posts that must share a split
(duplicates, parent/child families, optionally artists); each unit carries how many of its
posts have each label. Rarest labels are placed first, each unit to the split that still
wants that label most, so every label with enough posts lands in every split in proportion.
Ties, and the order units are taken in, follow a stable hash of the unit's key: the same
input gives the same split, whatever order the rows arrived in.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_fraction(keys: np.ndarray, seed: int) -> np.ndarray:
    """(N,) int keys -> (N,) float64 in [0, 1), a hash of (seed, key): stable across runs and machines."""
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys.tolist()):
        digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2**64
    return out


def iterative_stratification(
    unit_sizes: np.ndarray,
    indptr: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray,
    fractions: np.ndarray,
    order: np.ndarray,
    prior_posts: np.ndarray | None = None,
    prior_labels: np.ndarray | None = None,
    n_labels: int | None = None,
) -> np.ndarray:
    """Assign U units to S splits.

    unit_sizes : (U,) int, posts in each unit.
    indptr, labels, counts : CSR rows per unit: unit u has labels[indptr[u]:indptr[u+1]] (label
        indices, each once) with counts[...] posts carrying them. Only labels to stratify.
    fractions : (S,) float summing to 1, the wanted share of posts per split.
    order : (U,) float, the tie-breaking order (a stable hash per unit).
    prior_posts : (S,) and prior_labels : (L, S), posts and label counts already in each split
        (units kept from an earlier run), so that new units restore the proportions.
    Returns (U,) int8 split index per unit.
    """
    n_units, n_splits = len(unit_sizes), len(fractions)
    n_labels = n_labels if n_labels is not None else (int(labels.max()) + 1 if len(labels) else 0)
    label_totals = np.bincount(labels, weights=counts, minlength=n_labels)
    prior_posts = np.zeros(n_splits) if prior_posts is None else prior_posts.astype(np.float64)
    prior_labels = np.zeros((n_labels, n_splits)) if prior_labels is None else prior_labels.astype(np.float64)
    want_posts = fractions * (unit_sizes.sum() + prior_posts.sum()) - prior_posts
    want_labels = np.outer(label_totals + prior_labels.sum(axis=1), fractions) - prior_labels
    assigned = np.full(n_units, -1, dtype=np.int8)
    # label -> its units, in hash order
    unit_of = np.repeat(np.arange(n_units), np.diff(indptr))
    by_label = np.lexsort((order[unit_of], labels))
    label_start = np.searchsorted(labels[by_label], np.arange(n_labels + 1))
    units_left = np.bincount(labels, minlength=n_labels).astype(np.int64)
    tiebreak = np.arange(n_splits)

    def place(u: int, split: int) -> None:
        assigned[u] = split
        lo, hi = indptr[u], indptr[u + 1]
        want_posts[split] -= unit_sizes[u]
        want_labels[labels[lo:hi], split] -= counts[lo:hi]
        units_left[labels[lo:hi]] -= 1

    def best(candidates: np.ndarray, u: int) -> int:
        # most wanted label share, then most wanted posts, then a per-unit rotation of the splits
        rotation = (tiebreak + int(order[u] * n_splits)) % n_splits
        return int(np.lexsort((rotation, -want_posts, -candidates))[0])

    active = units_left > 0
    while active.any():
        label = int(np.flatnonzero(active)[np.argmin(units_left[active])])
        for u in by_label[label_start[label] : label_start[label + 1]]:
            u = int(unit_of[u])
            if assigned[u] < 0:
                place(u, best(want_labels[label], u))
        active = units_left > 0
    for u in np.argsort(order, kind="stable"):  # units without a stratified label: by size alone
        if assigned[u] < 0:
            place(int(u), best(np.zeros(n_splits), int(u)))
    return assigned


def place_new_units(
    unit_sizes: np.ndarray,
    indptr: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray,
    fractions: np.ndarray,
    order: np.ndarray,
    kept: np.ndarray,
    n_labels: int,
) -> np.ndarray:
    """(U,) split index per unit: ``kept`` (U,) int, a unit's placement from an earlier run or -1
    for a new unit. Kept units stay where they are and count as prior placements, so that the new
    units restore the proportions (:func:`iterative_stratification`); the arguments are its own."""
    keep = kept >= 0
    prior_posts = np.bincount(kept[keep], weights=unit_sizes[keep], minlength=len(fractions)).astype(np.float64)
    prior_labels = np.zeros((n_labels, len(fractions)))
    lengths = np.diff(indptr)
    entry_unit = np.repeat(np.arange(len(unit_sizes)), lengths)
    kept_entries = keep[entry_unit]
    np.add.at(prior_labels, (labels[kept_entries], kept[entry_unit[kept_entries]]), counts[kept_entries])
    new_indptr = np.concatenate([[0], np.cumsum(lengths * ~keep)])  # kept units: no labels, size 0
    chosen = iterative_stratification(
        np.where(keep, 0, unit_sizes),
        new_indptr,
        labels[~kept_entries],
        counts[~kept_entries],
        fractions,
        order,
        prior_posts,
        prior_labels,
        n_labels,
    )
    return np.where(keep, kept, chosen)
