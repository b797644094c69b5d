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
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..catalog import Catalog, sql_text
from ..errors import SourceError
from . import kernels

log = logging.getLogger(__name__)

MAX_DIRECT_TAG_ID = 1 << 26  # tag ids up to this index arrays directly; beyond, they are renumbered
MAX_TAG_ID = 2**31 - 1
POST_RUNS = pa.run_end_encoded(pa.int64(), pa.int64())  # canonical rows' post ids: (run end, post id) per post


def _canonical_range(grouped, tables, live, posts, n_tags: int, start: int, stop: int):
    """``kernels.canonical_rows`` over posts [start, stop), growing its output as needed: returns
    (post (k,) int64 run-end encoded, tag (k,) int32, implied (k,) bool, counts (T,) int64). The
    post ids are not written row by row: 20 M rows at board scale, 160 MB of fresh memory, which
    costs more on these machines than the kernel's own work."""
    post_runs, run_order, run_bounds, _ = grouped
    rows = int(np.diff(run_bounds)[run_order[post_runs[start] : post_runs[stop]]].sum())
    cap = rows + rows // 4 + 16
    post_rows = np.empty(stop - start, np.int64)
    out = (post_rows, np.empty(cap, np.int32), np.empty(cap, np.bool_), np.zeros(n_tags, np.int64))
    stamp = np.full(n_tags, -1, np.int64)
    d, k, base = start, 0, 0
    while True:
        d, k = kernels.canonical_rows(grouped, tables, live, start, out, stamp, base, d, k, stop)
        if d == stop:
            break
        base += len(posts)
        out = (post_rows, *(np.concatenate([a[:k], np.empty(len(a), a.dtype)]) for a in out[1:3]), out[3])
    tagged = post_rows > 0  # a run-end encoding has no empty runs
    run_ends = np.cumsum(post_rows)[tagged]
    post_column = pa.RunEndEncodedArray.from_buffers(  # from_arrays would import pandas
        POST_RUNS,
        int(run_ends[-1]) if len(run_ends) else 0,
        [None],
        0,
        0,
        [arrow_array(run_ends), arrow_array(posts[start:stop][tagged])],
    )
    return post_column, out[1][:k], out[2][:k], out[3]


def _columns(cat: Catalog, query: str) -> list[np.ndarray]:
    """The integer columns of a query as int64 numpy arrays."""
    table = cat.con.sql(query).to_arrow_table(batch_size=1 << 30)
    return [int64s(table.column(i)) for i in range(table.num_columns)]


def int64s(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A null-free integer Arrow column as a contiguous int64 array (n,), read from its buffer.
    DuckDB hands Arrow one chunk per row group; the chunks are joined by Arrow first (a
    ChunkedArray's own to_numpy is ~20x slower at 20 M rows), and pyarrow's to_numpy is not
    used at all: it imports pandas (0.7 s)."""
    array = joined(column) if isinstance(column, pa.ChunkedArray) else column
    if array.null_count:
        raise ValueError(f"an integer column of {len(array)} rows has {array.null_count} NULLs")
    if array.type != pa.int64():
        array = array.cast(pa.int64())
    if not len(array):
        return np.zeros(0, np.int64)
    return np.frombuffer(array.buffers()[1], np.int64, count=array.offset + len(array))[array.offset :]


def int32_tag_ids(ids: np.ndarray) -> np.ndarray:
    """Tag ids (n,) as int32, the width dump tags are kept and stored in (``dump_tags.tag_ids``
    is INTEGER[]: half the memory of int64 at 20 M ids); a SourceError names an id that does not
    fit (no board's tag ids come near 2^31)."""
    if len(ids) and (int(ids.max()) > MAX_TAG_ID or int(ids.min()) < 0):
        bad = int(ids.max()) if int(ids.max()) > MAX_TAG_ID else int(ids.min())
        raise SourceError(f"tag id {bad} is outside 0..{MAX_TAG_ID}: dump tags are kept as 32-bit ids")
    return ids.astype(np.int32)


def arrow_array(values: np.ndarray) -> pa.Array:
    """A numeric or bool numpy array (n,) as an Arrow array, the numbers not copied (bools are
    packed to bits). ``pa.array`` is not used on the ingest's path: its first call imports
    pandas (0.3 s, measured)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def joined(column: pa.ChunkedArray) -> pa.Array:
    """A chunked Arrow column as one array (one copy; an empty column gives an empty array)."""
    return pa.concat_arrays(column.chunks) if column.num_chunks else pa.nulls(0, type=column.type)


@dataclass
class DumpTags:
    """Dump tags of distinct posts, grouped by post: post_ids (P,) int64, counts (P,) int64,
    tag_ids (n,) int32 the posts' tags one run after another. A dump held in memory is a list
    of these (one per Arrow chunk it was staged in)."""

    post_ids: np.ndarray
    counts: np.ndarray
    tag_ids: np.ndarray


def _grouped_from_catalog(cat: Catalog) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``dump_tags`` read back and grouped by post: posts (P,), run_bounds (R + 1,) row offsets,
    post_runs, run_order (see ``kernels.group_runs``) and the tag ids (n,) int32. Each stored list is
    a run; a post normally has one list, more only when one file repeated its id."""
    table = cat.con.sql("SELECT post_id, tag_ids FROM dump_tags").to_arrow_table()
    post_ids = int64s(table.column(0))
    lists = joined(table.column(1))
    list_offsets = np.asarray(lists.offsets, dtype=np.int64)
    if lists.type.value_type == pa.int32():  # INTEGER[]: read where it lies
        values = np.frombuffer(lists.values.buffers()[1], np.int32, count=lists.values.offset + len(lists.values))
        values = values[lists.values.offset :]
    else:  # BIGINT[] in catalogs made before: checked as it is narrowed
        values = int32_tag_ids(int64s(lists.values))
    if list_offsets[0]:  # a sliced array: rebase
        values, list_offsets = values[list_offsets[0] : list_offsets[-1]], list_offsets - list_offsets[0]
    posts, list_bounds, post_runs, run_order = kernels.group_runs(post_ids)
    return posts, list_offsets[list_bounds], post_runs, run_order, values


def canonical_post_tags(cat: Catalog, dump: list[DumpTags] | None = None) -> None:
    """Rebuild ``post_tags`` from the dump tags, ``alias_map`` and ``tag_implication_closure``,
    and set every tag's ``post_count`` (live posts only) and category name. ``dump``: the
    catalog's dump tags when the caller holds them already (a first ingest); else they are read
    from ``dump_tags``."""
    started = time.perf_counter()
    alias_from, alias_to = _columns(cat, "SELECT antecedent_id, consequent_id FROM alias_map WHERE antecedent_id IS NOT NULL")
    implies_from, implies_to = _columns(cat, sql_text("marts/closure_ids"))
    (tag_ids,) = _columns(cat, "SELECT tag_id FROM tags")
    (removed,) = _columns(cat, "SELECT post_id FROM posts WHERE is_removed")

    # tag ids index arrays directly unless they are sparse beyond reason
    max_id = int(tag_ids.max(initial=0))
    if max_id < MAX_DIRECT_TAG_ID:
        n_tags, id_of = max_id + 1, None
    else:
        id_of = np.unique(tag_ids)
        n_tags = len(id_of)

    def number(ids: np.ndarray) -> np.ndarray:
        return (ids if id_of is None else np.searchsorted(id_of, ids)).astype(np.int32)

    def dump_numbers(ids: np.ndarray) -> np.ndarray:
        """The dump's tag ids (n,) int32 as numbers: the ids themselves when they index directly
        (no 20 M-row copy: first touches of fresh memory are slow on these machines)."""
        return ids if id_of is None else np.searchsorted(id_of, ids).astype(np.int32)

    alias = np.arange(n_tags, dtype=np.int32)
    alias[number(alias_from)] = number(alias_to)
    implies_from, implies_to = number(implies_from), number(implies_to)
    closure_starts = np.zeros(n_tags + 1, np.int64)
    np.cumsum(np.bincount(implies_from, minlength=n_tags), out=closure_starts[1:])
    closure_ids = implies_to[np.argsort(implies_from, kind="stable")]

    tables = (alias, closure_starts, closure_ids)
    if dump is None:  # read back, grouped, and cut into one range of posts per core
        posts, run_bounds, post_runs, run_order, dump_tag_ids = _grouped_from_catalog(cat)
        grouped = (post_runs, run_order, run_bounds, dump_numbers(dump_tag_ids))
        del dump_tag_ids
        live = ~np.isin(posts, removed)
        bounds = np.linspace(0, len(posts), (os.cpu_count() or 1) + 1).astype(np.int64).tolist()
        tasks = [(grouped, live, posts, start, stop) for start, stop in zip(bounds, bounds[1:])]
    else:  # one task per part; each post is one run already
        tasks = []
        for part in dump:
            run_bounds = np.zeros(len(part.post_ids) + 1, np.int64)
            np.cumsum(part.counts, out=run_bounds[1:])
            grouped = (
                np.arange(len(part.post_ids) + 1, dtype=np.int64),
                np.arange(len(part.post_ids), dtype=np.int64),
                run_bounds,
                dump_numbers(part.tag_ids),
            )
            tasks.append((grouped, ~np.isin(part.post_ids, removed), part.post_ids, 0, len(part.post_ids)))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="canonical") as pool:  # kernels free the GIL
        parts = list(pool.map(lambda task: _canonical_range(task[0], tables, task[1], task[2], n_tags, task[3], task[4]), tasks))
    counts = np.sum([p[3] for p in parts], axis=0) if parts else np.zeros(n_tags, np.int64)
    batches = [
        pa.record_batch(
            {"post_id": post, "tag_id": arrow_array(tag if id_of is None else id_of[tag]), "implied": arrow_array(implied)}
        )
        for post, tag, implied, _ in parts
    ]
    n_rows = sum(len(b) for b in batches)
    canonical = pa.Table.from_batches(
        batches,
        schema=pa.schema(
            [("post_id", POST_RUNS), ("tag_id", pa.int32() if id_of is None else pa.int64()), ("implied", pa.bool_())]
        ),
    )
    del parts, batches
    used = np.flatnonzero(counts)
    tag_counts = pa.table({"tag_id": arrow_array(used if id_of is None else id_of[used]), "posts": arrow_array(counts[used])})
    with cat.registered("canonical_rows", canonical), cat.registered("tag_live_counts", tag_counts):
        cat.run("marts/post_tags_write")
        cat.run("marts/tag_post_counts")
    log.info("canonical post tags: %d rows in %.2fs", n_rows, time.perf_counter() - started)
