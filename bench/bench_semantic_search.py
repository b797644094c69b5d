"""Benchmark: semantic near-duplicate search over N synthetic 512-d float16 embeddings.

The vectors imitate image embeddings rather than noise: points scattered around 5,000 topic
centres (cosine ~0.5-0.7 within a topic, as pictures of one subject are), plus 2% planted
near-copies (cosine ~0.97). Uniform random vectors have no neighbourhood structure at all and
would make any approximate index look useless, which real embeddings are not.

Runs what `curate dedupe` runs beyond FLAT_UP_TO vectors (curation.dedupe.semantic: an
IVF index over float16 codes, each vector's k = 10 nearest neighbours) and scores recall@10
against exact search (IndexFlatIP) on a sample of queries; the baseline named is that exact
search, timed on the sample and extrapolated to all N queries.

    python bench/bench_semantic_search.py [--n 1000000] [--nprobe 8 16 32] [--sample 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import faiss
import numpy as np

from curation.dedupe.semantic import build_index, knn, semantic_pairs


def synthetic_embeddings(n: int, dim: int, seed: int = 0, topics: int = 5000) -> np.ndarray:
    """(n, dim) float16, unit rows: topic centre + noise, every 50th row a near-copy of the row before."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float16)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        spread = rng.uniform(0.6, 1.0, (m, 1)).astype(np.float32)
        x = centres[rng.integers(0, topics, m)] + spread * rng.standard_normal((m, dim)).astype(np.float32) / np.sqrt(dim)
        copies = np.arange(1, m, 50)
        x[copies] = x[copies - 1] + 0.25 * rng.standard_normal((len(copies), dim)).astype(np.float32) / np.sqrt(dim)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--full", action="store_true", help="also time the whole all-pairs search as dedupe runs it")
    opts = parser.parse_args()
    started = time.perf_counter()
    vectors = synthetic_embeddings(opts.n, opts.dim)
    made = time.perf_counter() - started
    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(opts.n, opts.sample, replace=False))
    queries = vectors[sample]

    started = time.perf_counter()
    exact = faiss.IndexFlatIP(opts.dim)
    for s in range(0, opts.n, 100_000):
        exact.add(np.ascontiguousarray(vectors[s : s + 100_000], dtype=np.float32))
    _, truth = knn(exact, queries, opts.k)
    exact_s = time.perf_counter() - started
    del exact

    started = time.perf_counter()
    index, description = build_index(vectors, flat_up_to=0)
    build_s = time.perf_counter() - started
    results = {}
    for nprobe in opts.nprobe:
        index.nprobe = nprobe
        _, got = knn(index, queries, opts.k)
        recall = np.mean([len(set(g) & set(t)) / opts.k for g, t in zip(got, truth)])
        started = time.perf_counter()
        knn(index, vectors[: min(opts.n, 50_000)], opts.k)  # a timed slice of the all-pairs search
        per_query = (time.perf_counter() - started) / min(opts.n, 50_000)
        total = build_s + per_query * opts.n
        results[f"nprobe {nprobe}"] = {
            "recall_at_10": round(float(recall), 4),
            "search_all_s_extrapolated": round(per_query * opts.n, 1),
            "build_plus_search_all_s": round(total, 1),
            "speedup_vs_exact": round(exact_s / opts.sample * opts.n / total, 1),
        }
    full = {}
    if opts.full:
        del index
        started = time.perf_counter()
        i, _, _ = semantic_pairs(vectors, 0.9, flat_up_to=0)
        full = {"semantic_pairs_s": round(time.perf_counter() - started, 1), "pairs_at_0.9": int(len(i))}
    print(
        json.dumps(
            {
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "faiss": faiss.__version__},
                "n": opts.n,
                "dim": opts.dim,
                "index": description,
                "make_vectors_s": round(made, 1),
                "build_index_s": round(build_s, 1),
                "exact_baseline": {
                    "sample_queries": opts.sample,
                    "seconds": round(exact_s, 1),
                    "all_queries_s_extrapolated": round(exact_s / opts.sample * opts.n),
                },
                "results": results,
                "full_run_default_settings": full,
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
