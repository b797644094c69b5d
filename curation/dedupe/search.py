"""Radius search over 64-bit hashes with faiss binary indexes (never an N x N matrix)."""

from __future__ import annotations

import faiss
import numpy as np

MULTIHASH_FROM = 50_000  # below this, exact flat search is as fast


def to_codes(hashes: np.ndarray) -> np.ndarray:
    """(N,) uint64 -> (N, 8) uint8, the layout faiss binary indexes take."""
    return np.ascontiguousarray(hashes.astype(">u8")).view(np.uint8).reshape(-1, 8)


def radius_pairs(index_hashes: np.ndarray, query_hashes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (query i, indexed j, distance) with Hamming distance <= ``radius``.

    index_hashes : (N,) uint64; query_hashes : (M,) uint64. Returns three (K,) arrays
    (int64, int64, int32). Exact IndexBinaryFlat below MULTIHASH_FROM hashes, else
    IndexBinaryMultiHash: exact for radii not a multiple of 4, and at r = 4k it can miss pairs
    whose differing bits spread evenly over its four tables.
    """
    codes = to_codes(index_hashes)
    if len(index_hashes) >= MULTIHASH_FROM:
        index = faiss.IndexBinaryMultiHash(64, 4, 16)
        # 4 tables of 16 bits: a pair within r differs in at most r // 4 bits in one of them, so
        # nflip = r // 4 is exact. One flip fewer misses only pairs at exactly r = 4k whose
        # differing bits spread evenly (k in each table) and is several times faster at board scale.
        index.nflip = max(0, (radius - 1) // 4)
    else:
        index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    lims, dist, ids = index.range_search(to_codes(query_hashes), radius + 1)  # faiss keeps d < radius
    counts = np.diff(lims).astype(np.int64)
    queries = np.repeat(np.arange(len(query_hashes), dtype=np.int64), counts)
    return queries, ids.astype(np.int64), dist.astype(np.int32)
