"""Pairs of embeddings above a cosine-similarity threshold, through faiss (never an N x N matrix).

The index is chosen by size: exact ``IndexFlatIP`` (a range search) up to ``FLAT_UP_TO``
vectors; beyond that an inverted file over float16 codes (``IndexIVFScalarQuantizer``,
trained on a sample) searched for each vector's ``k`` nearest neighbours, of which those above
the threshold are kept. When faiss sees a GPU, the index is moved to it (k-NN search there;
faiss GPU indexes have no range search).
"""

from __future__ import annotations

import logging
import math

import faiss
import numpy as np

from ..progress import progress

log = logging.getLogger(__name__)
FLAT_UP_TO = 200_000
CHUNK = 16_384  # query and add vectors in chunks: float32 copies stay small


def gpu_count() -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return get() if get else 0


def _float32(vectors: np.ndarray, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(vectors[start:stop], dtype=np.float32)


def build_index(
    vectors: np.ndarray, nlist: int | None = None, nprobe: int | None = None, flat_up_to: int = FLAT_UP_TO, seed: int = 0
) -> tuple[faiss.Index, str]:
    """An inner-product index over ``vectors`` (N, D) float16/float32 L2-normalised (may be memory-mapped).

    Returns (index, description). IVF: ``nlist`` defaults to about 2 * sqrt(N) lists (trained on
    up to 64 vectors a list), ``nprobe`` to 16 (recall@10 0.99 on 200k board-like vectors,
    BENCHMARKS.md).
    """
    n, dim = vectors.shape
    if n <= flat_up_to:
        index: faiss.Index = faiss.IndexFlatIP(dim)
        description = "flat"
    else:
        nlist = nlist or int(2 ** round(math.log2(2 * math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        index.nprobe = nprobe or 16
        description = f"ivf{nlist},fp16 nprobe {index.nprobe}"
    if gpu_count():
        index = faiss.index_cpu_to_all_gpus(index)
        description += " on GPU"
    with progress("index embeddings", n) as advance:
        for start in range(0, n, CHUNK):
            index.add(_float32(vectors, start, start + CHUNK))
            advance(min(CHUNK, n - start))
    return index, description


def semantic_pairs(
    vectors: np.ndarray, threshold: float, k: int = 16, index: tuple[faiss.Index, str] | None = None, **index_options
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i < j) whose cosine similarity is at least ``threshold``.

    vectors : (N, D) float16 or float32, rows L2-normalised. Returns (i, j, similarity): two
    (P,) int64 arrays and one (P,) float32. Exact (range search) on a flat CPU index; otherwise
    each vector's ``k`` nearest neighbours are searched, so a group larger than ``k`` is joined
    through chains of neighbours rather than all its pairs. ``index``: what :func:`build_index`
    returned for ``vectors`` (built here when None).
    """
    n = len(vectors)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    index, description = index or build_index(vectors, **index_options)
    exact = isinstance(index, faiss.IndexFlatIP)
    log.info("semantic search over %d vectors: %s, threshold %.3f", n, description, threshold)
    rows, cols, sims = [], [], []
    with progress(f"semantic search ({description})", n) as advance:
        for start in range(0, n, CHUNK):
            query = _float32(vectors, start, start + CHUNK)
            if exact:
                lims, dist, ids = index.range_search(query, float(np.nextafter(np.float32(threshold), np.float32(-2))))
                q = np.repeat(np.arange(len(query), dtype=np.int64), np.diff(lims).astype(np.int64)) + start
                rows.append(q), cols.append(ids.astype(np.int64)), sims.append(dist.astype(np.float32))
            else:
                dist, ids = index.search(query, min(k + 1, n))
                q = np.repeat(np.arange(len(query), dtype=np.int64)[:, None], ids.shape[1], axis=1) + start
                keep = (ids >= 0) & (dist >= threshold)
                rows.append(q[keep]), cols.append(ids[keep].astype(np.int64)), sims.append(dist[keep].astype(np.float32))
            advance(len(query))
    i, j, s = np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)
    a, b = np.minimum(i, j), np.maximum(i, j)
    keep = a != b
    a, b, s = a[keep], b[keep], s[keep]
    order = np.lexsort((-s, b, a))
    a, b, s = a[order], b[order], s[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])  # each pair once, with its highest similarity
    return a[first], b[first], np.minimum(s[first], 1.0)


def strongest_per_item(i: np.ndarray, j: np.ndarray, sim: np.ndarray, k: int) -> np.ndarray:
    """(P,) bool: the pairs (i, j, similarity: (P,) arrays) that are among the ``k`` most similar
    pairs of either of their two items."""
    keep = np.zeros(len(sim), dtype=bool)
    if not len(sim) or k <= 0:
        return keep
    items = np.concatenate([i, j])  # each pair once under each of its items
    pairs = np.tile(np.arange(len(sim)), 2)
    order = np.lexsort((-np.tile(sim, 2), items))  # by item, most similar first
    items, pairs = items[order], pairs[order]
    starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
    rank = np.arange(len(items)) - np.repeat(starts, np.diff(np.r_[starts, len(items)]))
    keep[pairs[rank < k]] = True
    return keep


def knn(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, k) similarities and (M, k) ids of each query's k nearest vectors, in chunks."""
    sims, ids = [], []
    for start in range(0, len(queries), CHUNK):
        d, i = index.search(_float32(queries, start, start + CHUNK), k)
        sims.append(d), ids.append(i)
    return np.concatenate(sims), np.concatenate(ids)


def flat_knn(index: faiss.IndexFlat, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`knn` on a CPU flat inner-product index, by torch matrix products on the index's own
    vectors (a view, no copy) and top-k: (M, k) similarities and ids, best first. On 2 cores it
    is 4x faster than faiss's own search at 80,000 x 1,280 with k = 50 (4.2 s against 17 s for
    4,096 queries), which spends most of its time selecting the k. Score blocks stay under
    ~256 MB."""
    import torch

    n, dim = index.ntotal, index.d
    k = min(k, n)
    base = torch.from_numpy(faiss.rev_swig_ptr(index.get_xb(), n * dim).reshape(n, dim))
    batch = int(np.clip(2**26 // max(n, 1), 16, 1024))
    sims, ids = np.empty((len(queries), k), np.float32), np.empty((len(queries), k), np.int64)
    with torch.inference_mode():
        for start in range(0, len(queries), batch):
            block = torch.from_numpy(_float32(queries, start, start + batch)) @ base.T
            top = torch.topk(block, k, dim=1)
            sims[start : start + batch], ids[start : start + batch] = top.values.numpy(), top.indices.numpy()
    return sims, ids


def fit_whitening(vectors: np.ndarray, dims: int, sample: int = 100_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA whitening learnt from the vectors themselves: (mean (D,), projection (D, dims)) float32.

    Embeddings of one board share directions (its style, its usual subjects) that make every
    pair look alike; whitening divides each principal direction by its spread, so that what
    two pictures have in common beyond the board's usual is what counts (Jégou & Chum, ECCV
    2012). Fit on at most ``sample`` rows.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(vectors), size=min(len(vectors), sample), replace=False))
    x = np.asarray(vectors[rows], dtype=np.float64)
    mean = x.mean(axis=0)
    x -= mean
    # the principal directions from the (D, D) covariance rather than an SVD of the (n, D) rows:
    # the same axes (up to sign, which whitened inner products do not see), 4x faster at 20k x 1,280
    variance, axes = np.linalg.eigh(x.T @ x / len(x))
    order = np.argsort(variance)[::-1][: min(dims, len(x))]
    scale = np.maximum(np.sqrt(np.clip(variance[order], 0.0, None)), 1e-6)
    return mean.astype(np.float32), (axes[:, order] / scale).astype(np.float32)


def whiten(vectors: np.ndarray, mean: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, dims) float16, centred, projected and L2-normalised again, in chunks."""
    out = np.empty((len(vectors), projection.shape[1]), dtype=np.float16)
    for start in range(0, len(vectors), CHUNK):
        w = (_float32(vectors, start, start + CHUNK) - mean) @ projection
        out[start : start + len(w)] = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    return out
