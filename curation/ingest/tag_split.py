"""Dump tag strings to tag ids in one compiled pass over their bytes.

A staged file's tags arrive as one row per post with one space-separated string per category
(``staging/stg_tagged_*``), joined into one (``staging/stg_staged``). Splitting those strings in SQL makes one string per post-tag
(19 M at 1 M posts) that must then be joined to ``tags`` by name; here the strings stay in
their Arrow buffers, each token is hashed where it lies and looked up in a table of the known
names, and only integers come out: per post a run of tag ids, the layout that canonicalisation
consumes directly. Names no tag list knows are collected once each (with how often each
category column used them) and given ids by ``marts/tags_from_staging``.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from ..catalog import Catalog, sql_text
from . import kernels
from .canonical import DumpTags, int32_tag_ids, int64s, joined

# the tag columns of stg_tagged, in the order staging/stg_staged joins them, and the category id each one implies
# (NULL for a bare tag string, whose categories come from the tag list)
TAG_COLUMNS = (("c0", 0), ("c1", 1), ("c2", 2), ("c3", 3), ("c4", 4), ("c5", 5), ("c6", 6), ("c7", 7), ("c8", 8), ("bare", None))
# per byte value, the byte ASCII-case-folded: the known names are folded once, so that the kernel
# folds only the tokens it compares with them
_FOLD = np.arange(256, dtype=np.uint8)
_FOLD[ord("A") : ord("Z") + 1] += 32


def _string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An Arrow string array without nulls as (offsets (P + 1,) int64 into data, data uint8),
    the data not copied (32-bit offsets are widened)."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    buffers = array.buffers()
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    n = len(array)
    if buffers[1] is None or n == 0:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=width, count=array.offset + n + 1)[array.offset :].astype(np.int64, copy=False)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def staged_tag_ids(cat: Catalog) -> list[DumpTags]:
    """The staged file's tags (column tags of stg_staged) as tag ids, one part per Arrow chunk of the
    staged rows, in file order; names no tag list knows are added to ``tags`` first, with the
    category their column gave most often."""
    known = cat.con.sql("SELECT tag_id, coalesce(name, '') FROM tags").to_arrow_table()
    name_offsets, name_data = _string_buffers(joined(known.column(1)))
    slots = kernels.name_table(name_offsets, name_data)
    name_data = _FOLD[name_data]  # names are lower-cased when added; folded anyway, so that tokens alone need folding
    known_ids = int32_tag_ids(int64s(known.column(0)))

    def split_batch(batch: pa.RecordBatch) -> tuple[DumpTags, pa.Array | None]:
        """The batch's tags, and its strings only if some name in them is unknown."""
        tags, unknown = _split_chunk(
            int64s(batch.column(0)), *_string_buffers(batch.column(1)), slots, name_offsets, name_data, known_ids
        )
        return tags, batch.column(1) if unknown else None

    # the staged strings stream out batch by batch, each split on a free core while DuckDB hands
    # over the next (the kernels release the GIL), at most two batches per core in flight, and
    # dropped once split unless they hold names no tag list knows: at board scale the strings are
    # 250 MB that are then never all in memory at once. The parts stay apart (joining them would
    # copy every row).
    reader = cat.con.sql("SELECT post_id, tags FROM stg_staged WHERE reject_reason IS NULL").to_arrow_reader(STRING_BATCH_ROWS)
    workers = os.cpu_count() or 1
    results: list[tuple[DumpTags, pa.Array | None]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tag-split") as pool:
        in_flight: collections.deque[Future] = collections.deque()
        for batch in reader:
            in_flight.append(pool.submit(split_batch, batch))
            del batch
            if len(in_flight) > 2 * workers:
                results.append(in_flight.popleft().result())
        results.extend(future.result() for future in in_flight)
    parts = [part for part, _ in results]
    with_unknown = [(part, strings) for part, strings in results if strings is not None]
    del results
    if with_unknown:
        _number_unknown_tags(cat, pa.chunked_array([s for _, s in with_unknown]), [p for p, _ in with_unknown])
    return parts


STRING_BATCH_ROWS = 1 << 17  # about 30 MB of tag strings at board scale


def _split_chunk(post_ids, offsets, data, slots, name_offsets, name_data, known_ids) -> tuple[DumpTags, int]:
    """One Arrow chunk's posts (P,) through ``kernels.split_known``: their tags, and the number of
    unknown tokens (left -1 in tag_ids)."""
    n_posts, post, k, unknown = len(offsets) - 1, 0, 0, 0
    counts = np.zeros(n_posts, np.int64)
    tags = np.empty(len(data) // 10 + 1024, np.int32)  # tag names average over 10 bytes with their separator
    while True:
        post, k, seen = kernels.split_known(offsets, data, slots, name_offsets, name_data, known_ids, tags, counts, post, k)
        unknown += seen
        if post == n_posts:
            return DumpTags(post_ids, counts, tags[:k]), unknown
        tags = np.concatenate([tags[:k], np.empty(max(len(tags), int(offsets[post + 1] - offsets[post])), np.int32)])


def _number_unknown_tags(cat: Catalog, column: pa.ChunkedArray, parts: list[DumpTags]) -> None:
    """Give the unknown tokens (-1) of the parts' tag_ids, one part per chunk of column (the
    joined tag strings), their ids: each distinct name is added to ``tags``. The chunks are
    joined here: the names' byte ranges must point into one buffer."""
    offsets, data = _string_buffers(joined(column.cast(pa.large_string())))
    table = kernels.UnknownNames(1 << 12, len(TAG_COLUMNS))
    first = 0
    for part in parts:
        part_offsets = offsets[first : first + len(part.post_ids) + 1]
        post = k = 0
        while True:
            post, k = kernels.number_unknown(part_offsets, data, part.tag_ids, table, post, k)
            if post == len(part.post_ids):
                break
            table = table.grown(int(part_offsets[post + 1] - part_offsets[post]))
        first += len(part.post_ids)
    n = table.count
    names = [bytes(data[a:b]).decode("utf-8", errors="replace").lower() for a, b in table.at[:n].tolist()]
    new_ids = int32_tag_ids(_add_unknown_tags(cat, names, table.uses[:n]))
    for part in parts:
        kernels.resolve(part.tag_ids, new_ids)


def _add_unknown_tags(cat: Catalog, names: list[str], unknown_uses: np.ndarray) -> np.ndarray:
    """Insert the unknown names (U,) (lower-cased), with their uses per column (U, K), into
    ``tags``; returns their tag ids (U,) int64, in the order given. Lower-casing can make names
    the splitter told apart (other than by ASCII case) equal, or equal to a known name: each
    distinct name is added once, and a known one keeps its id."""
    distinct, of_name = np.unique(np.array(names, dtype=object), return_inverse=True) if names else ([], np.zeros(0, np.int64))
    merged = np.zeros((len(distinct), unknown_uses.shape[1]), np.int64)
    np.add.at(merged, of_name, unknown_uses)
    return _add_distinct_tags(cat, [str(n) for n in distinct], merged)[of_name]


def _add_distinct_tags(cat: Catalog, names: list[str], unknown_uses: np.ndarray) -> np.ndarray:
    """``_add_unknown_tags`` for distinct names: those ``tags`` lacks are added with the
    category their columns gave most often."""
    categorised = [k for k, (_, category) in enumerate(TAG_COLUMNS) if category is not None]
    uses = unknown_uses[:, categorised]
    best = uses.argmax(axis=1)
    category_ids = pa.array(
        [TAG_COLUMNS[categorised[b]][1] if uses[u, b] else None for u, b in enumerate(best.tolist())], type=pa.int32()
    )
    unknown = pa.table({"ord": np.arange(len(names), dtype=np.int64), "name": names, "category_id": category_ids})
    with cat.registered("stg_unknown_tags", unknown):
        cat.run("marts/tags_from_staging")
        ids = int64s(cat.con.sql(sql_text("marts/unknown_tag_ids")).to_arrow_table().column(0))
    return ids
