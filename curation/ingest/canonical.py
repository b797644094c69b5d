"""Canonical post tags: dump tags through active aliases, expanded by the implication closure.

``post_tags`` has one row per (post, tag): a tag the dump wrote (after aliasing) is ``'dump'``,
one only reached through implications is ``'implied'``. The per-post set arithmetic runs in one
compiled pass over the dump tags (grouped by post, a stamp array marking what a post already
has), which at board scale (20 M rows) is several times faster than DuckDB's hash aggregation
over (post, tag); the rows move between DuckDB and the kernel as Arrow columns, never as
Python objects. Each tag's count of live posts comes out of the same pass.
"""

from __future__ import annotations

import logging
import time

import numba
import numpy as np
import pyarrow as pa

from ..catalog import Catalog, sql_text

log = logging.getLogger(__name__)

MAX_DIRECT_TAG_ID = 1 << 26  # tag ids up to this index arrays directly; beyond, they are renumbered
_GOLDEN = np.int64(-7046029254386353131)  # 0x9E3779B97F4A7C15, Fibonacci hashing


@numba.njit(cache=True, nogil=True)
def _group_by_post(post_ids):
    """The rows grouped by post: (posts (P,) int64 distinct ids, starts (P + 1,) int64 offsets,
    order (n,) int64 row numbers by post, or an empty array when the rows are already grouped).

    post_ids (n,) int64. Dump tags are written post by post, so usually every post is one run
    of rows and no reordering is needed; otherwise a counting sort groups them.
    """
    n = post_ids.shape[0]
    run_starts = [0]
    for i in range(1, n):
        if post_ids[i] != post_ids[i - 1]:
            run_starts.append(i)
    runs = len(run_starts)
    bits = 1
    while (1 << bits) < 2 * runs:
        bits += 1
    cap = 1 << bits
    keys = np.empty(cap, np.int64)
    slots = np.full(cap, -1, np.int64)
    run_post = np.empty(runs, np.int64)  # dense post number of each run
    posts = np.empty(runs, np.int64)
    n_posts = 0
    for r in range(runs):
        p = post_ids[run_starts[r]]
        h = np.int64(np.uint64(p * _GOLDEN) >> np.uint64(64 - bits))
        while slots[h] >= 0 and keys[h] != p:
            h = (h + 1) & (cap - 1)
        if slots[h] < 0:
            keys[h] = p
            slots[h] = n_posts
            posts[n_posts] = p
            n_posts += 1
        run_post[r] = slots[h]
    starts = np.zeros(n_posts + 1, np.int64)
    if n_posts == runs:  # grouped already
        for r in range(runs):
            starts[r] = run_starts[r]
        starts[runs] = n
        return posts, starts, np.empty(0, np.int64)
    for r in range(runs):
        end = run_starts[r + 1] if r + 1 < runs else n
        starts[run_post[r] + 1] += end - run_starts[r]
    for j in range(n_posts):
        starts[j + 1] += starts[j]
    fill = starts[:-1].copy()
    order = np.empty(n, np.int64)
    for r in range(runs):
        end = run_starts[r + 1] if r + 1 < runs else n
        d = run_post[r]
        for i in range(run_starts[r], end):
            order[fill[d]] = i
            fill[d] += 1
    return posts[:n_posts], starts, order


@numba.njit(cache=True, nogil=True)
def _canonical_rows(posts, starts, order, tag_ids, alias, closure_starts, closure_ids, live):
    """Per post: aliased dump tags once each, then every implied tag it lacks.

    posts (P,) int64, starts (P + 1,) and order (n,) from ``_group_by_post``, tag_ids (n,) int64
    dense tag numbers, alias (T,) int64 canonical number of each tag, closure_starts (T + 1,)
    and closure_ids (m,) the implied numbers of each tag (CSR), live (P,) bool.
    Returns (post_id (k,) int64, tag (k,) int64, implied (k,) int8, live post counts (T,) int64).
    """
    n_tags = alias.shape[0]
    grouped_by_order = order.shape[0] > 0
    stamp = np.full(n_tags, -1, np.int64)
    cap = tag_ids.shape[0] + tag_ids.shape[0] // 4 + 16
    out_post = np.empty(cap, np.int64)
    out_tag = np.empty(cap, np.int64)
    out_implied = np.empty(cap, np.int8)
    counts = np.zeros(n_tags, np.int64)
    k = 0
    for d in range(posts.shape[0]):
        first = k
        for r in range(starts[d], starts[d + 1]):
            t = alias[tag_ids[order[r] if grouped_by_order else r]]
            if stamp[t] != d:
                stamp[t] = d
                if k == cap:
                    cap *= 2
                    out_post, out_tag, out_implied = _grow(out_post, out_tag, out_implied, cap)
                out_post[k] = posts[d]
                out_tag[k] = t
                out_implied[k] = 0
                k += 1
        written = k
        for w in range(first, written):
            t = out_tag[w]
            for c in range(closure_starts[t], closure_starts[t + 1]):
                u = closure_ids[c]
                if stamp[u] != d:
                    stamp[u] = d
                    if k == cap:
                        cap *= 2
                        out_post, out_tag, out_implied = _grow(out_post, out_tag, out_implied, cap)
                    out_post[k] = posts[d]
                    out_tag[k] = u
                    out_implied[k] = 1
                    k += 1
        if live[d]:
            for w in range(first, k):
                counts[out_tag[w]] += 1
    return out_post[:k], out_tag[:k], out_implied[:k], counts


@numba.njit(cache=True, nogil=True)
def _grow(a, b, c, cap):
    a2 = np.empty(cap, a.dtype)
    b2 = np.empty(cap, b.dtype)
    c2 = np.empty(cap, c.dtype)
    a2[:a.shape[0]] = a
    b2[:b.shape[0]] = b
    c2[:c.shape[0]] = c
    return a2, b2, c2


def _column(cat: Catalog, query: str, dtype) -> list[np.ndarray]:
    """The columns of a query as contiguous numpy arrays (through one Arrow batch each)."""
    table = cat.con.sql(query).to_arrow_table(batch_size=1 << 30)
    return [np.ascontiguousarray(table.column(i).to_numpy(), dtype=dtype) for i in range(table.num_columns)]


def canonical_post_tags(cat: Catalog) -> None:
    """Rebuild ``post_tags`` from ``dump_tags``, ``alias_map`` and ``tag_implication_closure``,
    and set every tag's ``post_count`` (live posts only) and category name."""
    started = time.perf_counter()
    post_ids, dump_tag_ids = _column(cat, "SELECT post_id, tag_id FROM dump_tags", np.int64)
    alias_from, alias_to = _column(cat, "SELECT antecedent_id, consequent_id FROM alias_map WHERE antecedent_id IS NOT NULL",
                                   np.int64)
    implies_from, implies_to = _column(cat, sql_text("marts/closure_ids"), np.int64)
    (tag_ids,) = _column(cat, "SELECT tag_id FROM tags", np.int64)
    (removed,) = _column(cat, "SELECT post_id FROM posts WHERE is_removed", np.int64)

    # tag ids index arrays directly unless they are sparse beyond reason
    max_id = int(tag_ids.max(initial=0))
    if max_id < MAX_DIRECT_TAG_ID:
        n_tags, number = max_id + 1, (lambda ids: ids)
        id_of = np.arange(n_tags, dtype=np.int64)
    else:
        id_of = np.unique(tag_ids)
        n_tags, number = len(id_of), (lambda ids: np.searchsorted(id_of, ids))
    alias = np.arange(n_tags, dtype=np.int64)
    alias[number(alias_from)] = number(alias_to)
    implies_from, implies_to = number(implies_from), number(implies_to)
    by_from = np.argsort(implies_from, kind="stable")
    closure_starts = np.zeros(n_tags + 1, np.int64)
    np.cumsum(np.bincount(implies_from, minlength=n_tags), out=closure_starts[1:])
    closure_ids = implies_to[by_from]

    posts, starts, order = _group_by_post(post_ids)
    live = ~np.isin(posts, removed)
    out_post, out_tag, implied, counts = _canonical_rows(posts, starts, order, number(dump_tag_ids), alias,
                                                         closure_starts, closure_ids, live)
    del post_ids, dump_tag_ids, order
    canonical = pa.table({"post_id": out_post, "tag_id": id_of[out_tag], "implied": implied.view(np.bool_)})
    used = np.flatnonzero(counts)
    tag_counts = pa.table({"tag_id": id_of[used], "posts": counts[used]})
    cat.con.register("canonical_rows", canonical)
    cat.con.register("tag_live_counts", tag_counts)
    try:
        cat.run("marts/post_tags_write")
        cat.run("marts/tag_post_counts")
    finally:
        cat.con.unregister("canonical_rows")
        cat.con.unregister("tag_live_counts")
    log.info("canonical post tags: %d rows in %.2fs", len(out_post), time.perf_counter() - started)
