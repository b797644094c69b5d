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

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pyarrow as pa

from ..catalog import Catalog, sql_text
from .canonical import DumpTags, int64s, joined

# the tag columns of stg_tagged, in the order staging/stg_staged joins them, and the category id each one implies
# (NULL for a bare tag string, whose categories come from the tag list)
TAG_COLUMNS = (("c0", 0), ("c1", 1), ("c2", 2), ("c3", 3), ("c4", 4), ("c5", 5), ("c6", 6), ("c7", 7), ("c8", 8),
               ("bare", None))
_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
# per byte value: whether it ends a token (0x01 between columns, ASCII whitespace), and the byte
# ASCII-case-folded; the hot loop looks both up instead of comparing (a third less time)
_SEPARATOR = np.zeros(256, np.bool_)
_SEPARATOR[[1, 9, 10, 11, 12, 13, 32]] = True
_FOLD = np.arange(256, dtype=np.uint8)
_FOLD[ord("A"):ord("Z") + 1] += 32


@numba.njit(cache=True, nogil=True)
def _mix(h):
    """FNV's low bits are poorly mixed (they index the tables): murmur3's finaliser."""
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@numba.njit(cache=True, nogil=True)
def _folded(b):
    """An ASCII capital as its small letter (tokens are matched case-blind here rather than
    lower-cased in SQL, which cost a sixth of the staging read); other bytes unchanged. A name
    with other capitals is unknown to the table and lower-cased in Python (``_add_unknown_tags``)."""
    return b + 32 if 65 <= b <= 90 else b


@numba.njit(cache=True, nogil=True)
def _hash(data, start, end):
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(_folded(data[i]))) * _FNV_PRIME
    return _mix(h)


@numba.njit(cache=True, nogil=True)
def _same(a, a_start, a_end, b, b_start, b_end):
    """Whether two byte ranges spell the same name, ASCII case aside."""
    if a_end - a_start != b_end - b_start:
        return False
    for i in range(a_end - a_start):
        if _folded(a[a_start + i]) != _folded(b[b_start + i]):
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _name_table(offsets, data):
    """Open-addressing table over n names (Arrow offsets (n + 1,), bytes): slots (cap,) int32
    name numbers or -1, cap a power of two at least twice n."""
    n = offsets.shape[0] - 1
    cap = 16
    while cap < 2 * n:
        cap *= 2
    slots = np.full(cap, -1, np.int32)
    mask = np.uint64(cap - 1)
    for k in range(n):
        h = _hash(data, offsets[k], offsets[k + 1]) & mask
        while slots[h] >= 0:
            h = (h + np.uint64(1)) & mask
        slots[h] = k
    return slots


@numba.njit(cache=True, nogil=True)
def _is_space(b):
    return b == 32 or (9 <= b <= 13)


@numba.njit(cache=True, nogil=True)
def _token_end(data, i, end):
    while i < end and data[i] != 1 and not _is_space(data[i]):
        i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _lookup(slots, name_offsets, name_data, h, data, start, stop):
    """The number of the known name data[start:stop] with hash h, or -1. name_data is folded
    already (``_FOLD``): only the token's bytes are folded here."""
    mask = np.uint64(slots.shape[0] - 1)
    fold = _FOLD
    length = stop - start
    s = h & mask
    while slots[s] >= 0:
        t = slots[s]
        at = name_offsets[t]
        if name_offsets[t + 1] - at == length:
            same = True
            for j in range(length):
                if name_data[at + j] != fold[data[start + j]]:
                    same = False
                    break
            if same:
                return t
        s = (s + np.uint64(1)) & mask
    return -1


@numba.njit(cache=True, nogil=True)
def _split_known(offsets, data, slots, name_offsets, name_data, known_ids, tags, counts, post, k):
    """Posts' tokens looked up among the known names, from post ``post`` and row ``k`` of tags on,
    until the posts end or tags is full (the hot loop allocates nothing: the caller grows tags
    and calls again from where it stopped).

    offsets (P + 1,) int64 into data (uint8): per post its tag columns joined by the byte 0x01
    (``joined_tags`` in ``staging/macros``); slots from ``_name_table`` over the known names
    name_offsets (N + 1,) and name_data (folded), whose tag ids are known_ids (N,) int64; tags (cap,)
    int64 gets a known name's tag id or -1; counts (P,) int64 the tokens of each post done.
    Returns (the next post, the next row of tags, unknown tokens seen).
    """
    n_posts = offsets.shape[0] - 1
    unknown = 0
    separator, fold = _SEPARATOR, _FOLD
    while post < n_posts:
        i, end = offsets[post], offsets[post + 1]
        if k + (end - i + 1) // 2 > tags.shape[0]:  # the post might not fit
            break
        first = k
        while i < end:
            if separator[data[i]]:
                i += 1
                continue
            start = i
            h = _FNV_OFFSET
            while i < end and not separator[data[i]]:  # the hash of _hash, folded by table
                h = (h ^ np.uint64(fold[data[i]])) * _FNV_PRIME
                i += 1
            t = _lookup(slots, name_offsets, name_data, _mix(h), data, start, i)
            if t >= 0:
                tags[k] = known_ids[t]
            else:
                tags[k] = -1
                unknown += 1
            k += 1
        counts[post] = k - first
        post += 1
    return post, k, unknown


@numba.njit(cache=True, nogil=True)
def _number_unknown(offsets, data, tags, table, post, k):
    """The unknown tokens (-1 in tags, as ``_split_known`` left them) numbered by name, from post
    ``post`` and row ``k`` of tags on: each becomes -1 - u for the u-th distinct unknown name.
    Stops early, at a post boundary, when ``table`` might fill up (the caller grows it with
    ``_grown_table`` and calls again). Returns (the next post, the next row of tags).
    """
    slots, hashes, at, uses, filled = table
    cap = slots.shape[0]
    mask = np.uint64(cap - 1)
    n_unknown = filled[0]
    n_posts = offsets.shape[0] - 1
    while post < n_posts:
        i, end = offsets[post], offsets[post + 1]
        if 2 * (n_unknown + (end - i + 1) // 2) > cap:
            break
        column = 0
        while i < end:
            if data[i] == 1:
                column += 1
                i += 1
                continue
            if _is_space(data[i]):
                i += 1
                continue
            start = i
            i = _token_end(data, i, end)
            k += 1
            if tags[k - 1] != -1:
                continue
            h = _hash(data, start, i)
            s = h & mask
            u = -1
            while slots[s] >= 0:
                v = slots[s]
                if hashes[v] == h and _same(data, at[v, 0], at[v, 1], data, start, i):
                    u = v
                    break
                s = (s + np.uint64(1)) & mask
            if u < 0:
                u = n_unknown
                slots[s] = u
                hashes[u] = h
                at[u, 0] = start
                at[u, 1] = i
                uses[u] = 0
                n_unknown += 1
            uses[u, column] += 1
            tags[k - 1] = -1 - u
        post += 1
    filled[0] = n_unknown
    return post, k


def _unknown_table(cap: int, n_cols: int):
    """An empty table of unknown names for ``_number_unknown``: slots (cap,) int32, and per
    name (cap // 2 rows) its hash, (start, end) in data and uses per column, plus the count."""
    return (np.full(cap, -1, np.int32), np.empty(cap // 2, np.uint64), np.empty((cap // 2, 2), np.int64),
            np.zeros((cap // 2, n_cols), np.int64), np.zeros(1, np.int64))


@numba.njit(cache=True, nogil=True)
def _rehash(slots, hashes, n):
    mask = np.uint64(slots.shape[0] - 1)
    for v in range(n):
        s = hashes[v] & mask
        while slots[s] >= 0:
            s = (s + np.uint64(1)) & mask
        slots[s] = v


def _grown_table(table, rows_needed: int):
    """The table of unknown names with room for rows_needed more names."""
    slots, hashes, at, uses, filled = table
    n = int(filled[0])
    cap = slots.shape[0]
    while 2 * (n + rows_needed) > cap:
        cap *= 2
    grown = _unknown_table(cap, uses.shape[1])
    for old, new in zip((hashes, at, uses), grown[1:4]):
        new[:n] = old[:n]
    grown[4][0] = n
    _rehash(grown[0], grown[1], n)
    return grown


@numba.njit(cache=True, nogil=True)
def _resolve(tags, new_ids):
    """In place: every -1 - u in tags (n,) int64 becomes new_ids[u]."""
    for i in range(tags.shape[0]):
        if tags[i] < 0:
            tags[i] = new_ids[-1 - tags[i]]


def _string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An Arrow string array without nulls as (offsets (P + 1,) int32 or int64 into data, data
    uint8), without copying."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    buffers = array.buffers()
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    n = len(array)
    if buffers[1] is None or n == 0:
        return np.zeros(n + 1, width), np.zeros(0, np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=width, count=array.offset + n + 1)[array.offset:]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def staged_tag_ids(cat: Catalog) -> list[DumpTags]:
    """The staged file's tags (column tags of stg_staged) as tag ids, one part per Arrow chunk of the
    staged rows, in file order; names no tag list knows are added to ``tags`` first, with the
    category their column gave most often."""
    staged = cat.con.sql("SELECT post_id, tags FROM stg_staged WHERE reject_reason IS NULL").to_arrow_table()
    known = cat.con.sql("SELECT tag_id, coalesce(name, '') FROM tags").to_arrow_table()
    name_offsets, name_data = _string_buffers(joined(known.column(1)))
    slots = _name_table(name_offsets, name_data)
    name_data = _FOLD[name_data]  # names are lower-cased when added; folded anyway, so that tokens alone need folding
    known_ids = int64s(known.column(0))
    # one Arrow chunk (the same rows in both columns) per task, on every core at once (the
    # kernels release the GIL); the parts stay apart (joining them would copy every row)
    chunks = [(int64s(ids), *_string_buffers(strings))
              for ids, strings in zip(staged.column(0).chunks, staged.column(1).chunks)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="tag-split") as pool:
        parts = list(pool.map(lambda chunk: _split_chunk(*chunk, slots, name_offsets, name_data, known_ids), chunks))
    if any(unknown for _, unknown in parts):
        _number_unknown_tags(cat, staged.column(1), [part for part, _ in parts])
    return [part for part, _ in parts]


def _split_chunk(post_ids, offsets, data, slots, name_offsets, name_data, known_ids) -> tuple[DumpTags, int]:
    """One Arrow chunk's posts (P,) through ``_split_known``: their tags, and the number of
    unknown tokens (left -1 in tag_ids)."""
    n_posts, post, k, unknown = len(offsets) - 1, 0, 0, 0
    counts = np.zeros(n_posts, np.int64)
    tags = np.empty(len(data) // 10 + 1024, np.int64)  # tag names average over 10 bytes with their separator
    while True:
        post, k, seen = _split_known(offsets, data, slots, name_offsets, name_data, known_ids, tags, counts, post, k)
        unknown += seen
        if post == n_posts:
            return DumpTags(post_ids, counts, tags[:k]), unknown
        tags = np.concatenate([tags[:k], np.empty(max(len(tags), int(offsets[post + 1] - offsets[post])), np.int64)])


def _number_unknown_tags(cat: Catalog, column: pa.ChunkedArray, parts: list[DumpTags]) -> None:
    """Give the unknown tokens (-1) of the parts' tag_ids, one part per chunk of column (the
    joined tag strings), their ids: each distinct name is added to ``tags``. The chunks are
    joined here: the names' byte ranges must point into one buffer."""
    offsets, data = _string_buffers(joined(column.cast(pa.large_string())))
    table = _unknown_table(1 << 12, len(TAG_COLUMNS))
    first = 0
    for part in parts:
        part_offsets = offsets[first:first + len(part.post_ids) + 1]
        post = k = 0
        while True:
            post, k = _number_unknown(part_offsets, data, part.tag_ids, table, post, k)
            if post == len(part.post_ids):
                break
            table = _grown_table(table, int(part_offsets[post + 1] - part_offsets[post]))
        first += len(part.post_ids)
    n = int(table[4][0])
    names = [bytes(data[a:b]).decode("utf-8", errors="replace").lower() for a, b in table[2][:n].tolist()]
    new_ids = _add_unknown_tags(cat, names, table[3][:n])
    for part in parts:
        _resolve(part.tag_ids, new_ids)


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
    category_ids = pa.array([TAG_COLUMNS[categorised[b]][1] if uses[u, b] else None for u, b in enumerate(best.tolist())],
                            type=pa.int32())
    unknown = pa.table({"ord": np.arange(len(names), dtype=np.int64), "name": names, "category_id": category_ids})
    cat.con.register("stg_unknown_tags", unknown)
    try:
        cat.run("marts/tags_from_staging")
        ids = int64s(cat.con.sql(sql_text("marts/unknown_tag_ids")).to_arrow_table().column(0))
    finally:
        cat.con.unregister("stg_unknown_tags")
    return ids
