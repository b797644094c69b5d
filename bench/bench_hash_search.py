"""Benchmark: all-pairs radius search over 1,000,000 64-bit perceptual hashes.

1,000,000 hashes: random ones plus 5% near-copies (1-8 bits flipped). All pairs within
Hamming radius 8 by `curation.dedupe.radius_pairs` (multi-index hashing compiled with numba),
median of several runs, checked against exact `faiss.IndexBinaryFlat` search for a sample of
queries. Baselines, run side by side on the same codes: faiss `IndexBinaryFlat` (exact brute
force) and faiss `IndexBinaryMultiHash(64, 4, 16)` with two flips (exact at radius 8) and one
flip (what we shipped before; misses pairs at exactly radius 8), each timed on a query sample
and scaled to all queries (a full run takes 3 to 10+ minutes). Target (hash dedupe issue):
under 60 s on 2 cores.

    python bench/bench_hash_search.py [--n 1000000] [--radius 8] [--repeats 3] [--sample 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import faiss
import numpy as np

from curation.dedupe.search import choose_layout, radius_pairs


def to_codes(hashes: np.ndarray) -> np.ndarray:
    """(N,) uint64 -> (N, 8) uint8, the layout faiss binary indexes take."""
    return np.ascontiguousarray(hashes.astype(">u8")).view(np.uint8).reshape(-1, 8)


def board_hashes(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) uint64: random codes plus 5% near-copies with 1-8 bits flipped."""
    n_copies = n // 20
    base = rng.integers(0, 2**63, n - n_copies, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    base |= rng.integers(0, 2, len(base)).astype(np.uint64)
    copies = base[rng.integers(0, len(base), n_copies)].copy()
    for _ in range(4):  # up to 4 random bit positions flipped twice each way: 1-8 bits differ
        copies ^= np.uint64(1) << rng.integers(0, 64, n_copies).astype(np.uint64)
        copies ^= (np.uint64(1) << rng.integers(0, 64, n_copies).astype(np.uint64)) * rng.integers(0, 2, n_copies).astype(
            np.uint64
        )
    return np.concatenate([base, copies])


def faiss_sample(index, codes: np.ndarray, sample: np.ndarray, radius: int, n: int) -> tuple[float, set]:
    """Seconds for all n queries (scaled from the sample) and the sample's pairs (q, j), q != j."""
    start = time.perf_counter()
    lims, _, ids = index.range_search(codes[sample], radius + 1)  # faiss keeps d < radius
    seconds = (time.perf_counter() - start) * n / len(sample)
    pairs = {(int(q), int(j)) for k, q in enumerate(sample) for j in ids[lims[k] : lims[k + 1]] if int(j) != int(q)}
    return seconds, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--radius", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2000)
    opts = parser.parse_args()
    rng = np.random.default_rng(0)
    hashes = board_hashes(opts.n, rng)
    radius_pairs(hashes[:1000], None, opts.radius)  # compile (or load the cached kernels) first

    times = []
    for _ in range(opts.repeats):
        start = time.perf_counter()
        qi, ij, _ = radius_pairs(hashes, None, opts.radius)
        times.append(time.perf_counter() - start)
    ours = statistics.median(times)

    codes = to_codes(hashes)
    sample = rng.choice(len(hashes), opts.sample, replace=False)
    flat = faiss.IndexBinaryFlat(64)
    flat.add(codes)
    flat_s, truth = faiss_sample(flat, codes, sample, opts.radius, len(hashes))
    multihash = {}
    for nflip in (2, 1):
        index = faiss.IndexBinaryMultiHash(64, 4, 16)
        index.nflip = nflip
        index.add(codes)
        seconds, got = faiss_sample(index, codes, sample, opts.radius, len(hashes))
        multihash[nflip] = (seconds, len(got & truth) / len(truth) if truth else 1.0)

    sampled = set(sample.tolist())
    found = {(int(a), int(b)) for a, b in zip(qi, ij) if int(a) in sampled} | {
        (int(b), int(a)) for a, b in zip(qi, ij) if int(b) in sampled
    }
    report = {
        "cpus": os.cpu_count(),
        "hashes": len(hashes),
        "radius": opts.radius,
        "layout": str(choose_layout(len(hashes), opts.radius)),
        "ours_runs_s": [round(t, 1) for t in times],
        "ours_median_s": round(ours, 1),
        "pairs_found": len(qi),
        "ours_recall_vs_flat_on_sample": round(len(found & truth) / len(truth), 4) if truth else 1.0,
        "ours_false_pairs_on_sample": len(found - truth),
        "faiss_flat_estimated_s": round(flat_s, 1),
        "faiss_multihash_nflip2_estimated_s": round(multihash[2][0], 1),
        "faiss_multihash_nflip2_recall": round(multihash[2][1], 4),
        "faiss_multihash_nflip1_estimated_s": round(multihash[1][0], 1),
        "faiss_multihash_nflip1_recall": round(multihash[1][1], 4),
    }
    report["speedup_vs_flat"] = round(flat_s / ours, 1)
    report["speedup_vs_multihash_exact"] = round(multihash[2][0] / ours, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
