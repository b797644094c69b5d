"""Exact Hamming radius search over 64-bit hashes by multi-index hashing (never an N x N matrix).

Multi-index hashing (Norouzi, Punjani and Fleet, CVPR 2012): cut the 64 bits into ``m``
disjoint substrings. Two codes within Hamming distance ``r`` differ in at most ``r // m``
bits in at least one substring (pigeonhole), so probing, for each substring, every bucket
within ``r // m`` flips of the query's substring finds every pair, and each candidate is then
checked on all 64 bits. The substrings need not cover all 64 bits, which lets small indexes
use short keys. The layout (``m`` and the key width) is chosen from a cost model; when a plain
scan is cheaper, the same kernel runs with one zero-bit key (one bucket holding every code).

faiss's ``IndexBinaryMultiHash`` implements the same idea, but at 1M hashes and radius 8 it
took 200 s with one flip (inexact) and over 10 minutes exact on 2 cores (BENCHMARKS.md); this
kernel is exact at every radius and runs the probes compiled by numba in one thread per core.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from math import comb

import numba
import numpy as np

MAX_KEY_BITS = 22  # a bucket table of 2**22 + 1 offsets (32 MB) per substring at most
CHUNK = 1 << 15  # queries per task handed to a thread

_M1, _M2, _M4 = np.uint64(0x5555555555555555), np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@numba.njit(inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@numba.njit(cache=True, nogil=True)
def _probe(lo, hi, queries, codes, orders, starts, shifts, masks, flips, n_flips, sub_radius, radius, self_join, per_query):
    """Pairs (query i in [lo, hi), indexed j) within ``radius``, each found once; with
    ``per_query`` > 0 only each query's ``per_query`` closest (ties: the lower j).

    queries (Q,) uint64, codes (N,) uint64, orders (m, N) int64 (ids sorted by substring key),
    starts (m, 2**b + 1) int64 (bucket offsets into orders), shifts/masks (m,) uint64,
    flips (m, P) uint64 with n_flips (m,) valid masks each. With self_join only j > i.
    """
    cap = max(1024, 2 * (hi - lo))
    out_i = np.empty(cap, np.int64)
    out_j = np.empty(cap, np.int64)
    out_d = np.empty(cap, np.int32)
    n = 0
    m = shifts.shape[0]
    for i in range(lo, hi):
        q = queries[i]
        first = n
        for t in range(m):
            key = (q >> shifts[t]) & masks[t]
            for f in range(n_flips[t]):
                bucket = key ^ flips[t, f]
                for p in range(starts[t, bucket], starts[t, bucket + np.uint64(1)]):
                    j = orders[t, p]
                    if self_join and j <= i:
                        continue
                    x = q ^ codes[j]
                    d = _popcount(x)
                    if d > radius:
                        continue
                    seen = False  # found already through an earlier substring?
                    for u in range(t):
                        if _popcount((x >> shifts[u]) & masks[u]) <= sub_radius:
                            seen = True
                            break
                    if seen:
                        continue
                    if n == cap:
                        cap *= 2
                        out_i = _grow(out_i, cap)
                        out_j = _grow(out_j, cap)
                        out_d = _grow(out_d, cap)
                    out_i[n] = i
                    out_j[n] = j
                    out_d[n] = d
                    n += 1
        if per_query > 0 and n - first > per_query:
            order = np.argsort(out_d[first:n].astype(np.int64) * codes.shape[0] + out_j[first:n])[:per_query]
            kept_j = out_j[first:n][order].copy()
            kept_d = out_d[first:n][order].copy()
            n = first + per_query
            out_j[first:n] = kept_j
            out_d[first:n] = kept_d
    return out_i[:n].copy(), out_j[:n].copy(), out_d[:n].copy()


@numba.njit(cache=True)
def _grow(a, cap):
    b = np.empty(cap, a.dtype)
    b[: a.shape[0]] = a
    return b


@dataclass(frozen=True)
class Layout:
    """``substrings`` disjoint keys of ``key_bits`` bits each, probed within ``sub_radius`` flips;
    ``substrings == 0`` means brute force."""

    substrings: int
    key_bits: int
    sub_radius: int
    cost: float


def choose_layout(n_index: int, radius: int) -> Layout:
    """The cheapest exact layout for ``n_index`` codes at ``radius`` (work per query: bucket
    probes, candidates checked and a share of building the bucket tables)."""
    best = Layout(0, 0, radius, float(max(n_index, 1)))
    for m in range(1, 65):
        sub_radius = radius // m
        for bits in range(1, min(MAX_KEY_BITS, 64 // m) + 1):
            probes = sum(comb(bits, k) for k in range(min(sub_radius, bits) + 1))
            cost = m * (probes * (1 + n_index / 2**bits) + 2**bits / max(n_index, 1))  # + the tables' build
            if cost < best.cost:
                best = Layout(m, bits, sub_radius, cost)
    return best


def _flip_masks(bits: int, sub_radius: int) -> np.ndarray:
    """Every ``bits``-bit mask with at most ``sub_radius`` bits set: (P,) uint64."""
    masks = [sum(1 << b for b in chosen) for k in range(min(sub_radius, bits) + 1) for chosen in combinations(range(bits), k)]
    return np.asarray(masks, dtype=np.uint64)


def _tables(codes: np.ndarray, layout: Layout) -> tuple[np.ndarray, ...]:
    """Bucket tables for ``_probe``; a brute-force layout (0 substrings) is one 0-bit key."""
    m, bits = max(layout.substrings, 1), layout.key_bits
    shifts = np.arange(m, dtype=np.uint64) * np.uint64(64 // m)  # spread the keys over all 64 bits
    masks = np.full(m, (1 << bits) - 1, dtype=np.uint64)
    orders = np.empty((m, len(codes)), dtype=np.int64)
    starts = np.empty((m, (1 << bits) + 1), dtype=np.int64)
    for t in range(m):
        keys = ((codes >> shifts[t]) & masks[t]).astype(np.int64)
        orders[t] = np.argsort(keys, kind="stable")
        starts[t, 0] = 0
        np.cumsum(np.bincount(keys, minlength=1 << bits), out=starts[t, 1:])
    flips = _flip_masks(bits, layout.sub_radius)
    flips = np.broadcast_to(flips, (m, len(flips))).copy()
    n_flips = np.full(m, flips.shape[1], dtype=np.int64)
    return shifts, masks, orders, starts, flips, n_flips


def radius_pairs(
    index_hashes: np.ndarray, query_hashes: np.ndarray | None, radius: int, threads: int | None = None, per_query: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (query i, indexed j, distance) with Hamming distance <= ``radius``, exactly; with
    ``per_query`` > 0 only each query's ``per_query`` closest (ties: the lower j), so that the
    output grows with the queries, not with the square of a dense neighbourhood.

    index_hashes : (N,) uint64; query_hashes : (M,) uint64, or None to join the index with
    itself, returning each unordered pair once (i < j, no self pairs). Returns three (K,)
    arrays (int64, int64, int32), ordered by query.
    """
    codes = np.ascontiguousarray(index_hashes, dtype=np.uint64)
    self_join = query_hashes is None
    queries = codes if self_join else np.ascontiguousarray(query_hashes, dtype=np.uint64)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32))
    if len(codes) == 0 or len(queries) == 0 or radius < 0:
        return empty
    layout = choose_layout(len(codes), int(radius))
    shifts, masks, orders, starts, flips, n_flips = _tables(codes, layout)

    def work(lo: int, hi: int):
        return _probe(
            lo, hi, queries, codes, orders, starts, shifts, masks, flips, n_flips, layout.sub_radius, int(radius), self_join,
            int(per_query),
        )  # fmt: skip

    bounds = [(lo, min(lo + CHUNK, len(queries))) for lo in range(0, len(queries), CHUNK)]
    workers = max(1, min(threads or os.cpu_count() or 1, len(bounds)))
    if workers == 1:
        parts = [work(lo, hi) for lo, hi in bounds]
    else:
        with ThreadPoolExecutor(workers) as pool:  # the kernels release the GIL
            parts = list(pool.map(lambda b: work(*b), bounds))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))
