"""Benchmark: all-pairs radius search over 64-bit perceptual hashes with faiss.

1,000,000 hashes: random ones plus 5% near-copies (1-8 bits flipped). All pairs within
Hamming radius 8 by `curation.dedupe.radius_pairs` (IndexBinaryMultiHash at this size),
checked against exact IndexBinaryFlat search for a sample of 2,000 queries (recall of the
multi-hash index). Baseline: the exact flat search, timed on the same sample and scaled to
all queries. Target (hash dedupe issue): under 60 s on 2 cores.

    python bench/bench_hash_search.py [--n 1000000] [--radius 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import faiss
import numpy as np

from curation.dedupe.search import radius_pairs, to_codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--radius", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    rng = np.random.default_rng(0)
    n_copies = opts.n // 20
    base = rng.integers(0, 2**63, opts.n - n_copies, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    base |= rng.integers(0, 2, len(base)).astype(np.uint64)
    copies = base[rng.integers(0, len(base), n_copies)].copy()
    for _ in range(4):  # up to 4 random bit positions flipped twice each way: 1-8 bits differ
        copies ^= np.uint64(1) << rng.integers(0, 64, n_copies).astype(np.uint64)
        copies ^= (np.uint64(1) << rng.integers(0, 64, n_copies).astype(np.uint64)) * rng.integers(0, 2, n_copies).astype(np.uint64)
    hashes = np.concatenate([base, copies])

    times, found = [], 0
    for _ in range(opts.repeats):
        start = time.perf_counter()
        qi, ij, _ = radius_pairs(hashes, hashes, opts.radius)
        times.append(time.perf_counter() - start)
        found = int((qi != ij).sum())

    sample = rng.choice(len(hashes), 2000, replace=False)
    flat = faiss.IndexBinaryFlat(64)
    flat.add(to_codes(hashes))
    start = time.perf_counter()
    lims, _, ids = flat.range_search(to_codes(hashes[sample]), opts.radius + 1)
    flat_s = time.perf_counter() - start
    truth = {(int(q), int(j)) for k, q in enumerate(sample) for j in ids[lims[k]:lims[k + 1]] if int(j) != int(q)}
    sampled = set(sample.tolist())
    got = {(int(a), int(b)) for a, b in zip(qi, ij) if int(a) in sampled and a != b}
    recall = len(truth & got) / len(truth) if truth else 1.0
    report = {
        "cpus": os.cpu_count(), "hashes": len(hashes), "radius": opts.radius,
        "multihash_runs_s": [round(t, 1) for t in times], "multihash_median_s": round(statistics.median(times), 1),
        "pairs_found": found, "recall_vs_flat_on_sample": round(recall, 4),
        "flat_estimated_all_pairs_s": round(flat_s * len(hashes) / len(sample), 1),
    }
    report["speedup_vs_flat"] = round(report["flat_estimated_all_pairs_s"] / report["multihash_median_s"], 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
