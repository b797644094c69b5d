"""The ingest's compiled kernels (``_kernels.c``), called through ctypes.

ctypes releases the GIL for the length of each call, so callers run one range of posts per
thread. Every array is checked for its dtype and layout before its address is handed over: a
wrong one raises here instead of being misread in C.
"""

from __future__ import annotations

import ctypes
from importlib.util import find_spec

import numpy as np

from ..errors import CurationError

_spec = find_spec("curation.ingest._kernels")
if _spec is None or not _spec.origin:
    raise CurationError(
        "curation.ingest._kernels is not built: reinstall the project where a C compiler and the "
        "Python headers are present (`pip install -e .`)"
    )
_lib = ctypes.CDLL(_spec.origin)

_P, _I = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES = {
    "ck_hash": ((_P, _I, _I), ctypes.c_uint64),
    "ck_name_table": ((_P, _I, _P, _P, _I), None),
    "ck_lookup": ((_P, _I, _P, _P, ctypes.c_uint64, _P, _I, _I), _I),
    "ck_split_known": ((_P, _I, _P, _I, _P, _I, _P, _P, _P, _P, _I, _P, _P), None),
    "ck_number_unknown": ((_P, _I, _P, _P, _P, _I, _P, _P, _P, _I, _P, _P), None),
    "ck_rehash": ((_P, _I, _P, _I), None),
    "ck_resolve": ((_P, _I, _P), None),
    "ck_count_runs": ((_P, _I), _I),
    "ck_count_byte": ((_P, _I, ctypes.c_uint8), _I),
    "ck_group_runs": ((_P, _I, _I, _P, _P, _P, _P), _I),
    "ck_canonical_rows": ((_P,) * 8 + (_I, _P, _P, _P, _I, _P, _P, _I, _I, _P), None),
}
for _name, (_args, _result) in _SIGNATURES.items():
    getattr(_lib, _name).argtypes, getattr(_lib, _name).restype = _args, _result


def _at(array: np.ndarray, dtype, writable: bool = False) -> int:
    """The address of a C-contiguous array of the dtype (checked)."""
    if array.dtype != dtype or not array.flags.c_contiguous or (writable and not array.flags.writeable):
        raise TypeError(
            f"kernel argument: want a C-contiguous {'writable ' if writable else ''}{np.dtype(dtype)} array, "
            f"got {array.dtype} {'contiguous' if array.flags.c_contiguous else 'strided'}"
        )
    return array.ctypes.data


def _table_size(n: int) -> int:
    """A power of two at least 16 and at least twice n."""
    cap = 16
    while cap < 2 * n:
        cap *= 2
    return cap


def count_byte(data: np.ndarray, byte: int) -> int:
    """How many times the byte occurs in data (n,) uint8."""
    return _lib.ck_count_byte(_at(data, np.uint8), len(data), byte)


def token_hash(data: np.ndarray, start: int, stop: int) -> int:
    """The hash the name tables use, of data[start:stop] (uint8), ASCII case aside."""
    return _lib.ck_hash(_at(data, np.uint8), start, stop)


def name_table(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Open-addressing table over n names (offsets (n + 1,) int64 into data uint8): slots
    (cap,) int32 name numbers or -1, cap a power of two at least twice n."""
    n = len(offsets) - 1
    slots = np.full(_table_size(n), -1, np.int32)
    _lib.ck_name_table(_at(offsets, np.int64), n, _at(data, np.uint8), _at(slots, np.int32), len(slots))
    return slots


def lookup(
    slots: np.ndarray, name_offsets: np.ndarray, name_data: np.ndarray, h: int, data: np.ndarray, start: int, stop: int
) -> int:
    """The number of the known name data[start:stop] with hash h, or -1 (name_data folded)."""
    return _lib.ck_lookup(
        _at(slots, np.int32),
        len(slots),
        _at(name_offsets, np.int64),
        _at(name_data, np.uint8),
        h,
        _at(data, np.uint8),
        start,
        stop,
    )


def split_known(offsets, data, slots, name_offsets, name_data, known_ids, tags, counts, post: int, k: int):
    """Posts' tokens looked up among the known names, from post ``post`` and row ``k`` of tags on,
    until the posts end or tags might not hold the next post.

    offsets (P + 1,) int64 into data (uint8): per post its tag columns joined by the byte 0x01;
    slots from ``name_table`` over name_offsets (N + 1,) int64 and name_data (uint8, ASCII-folded),
    whose tag ids are known_ids (N,) int32; tags (cap,) int32 gets a known name's tag id or -1;
    counts (P,) int64 the tokens of each post done. Returns (the next post, the next row of tags,
    unknown tokens seen).
    """
    state = np.array([post, k, 0], np.int64)
    _lib.ck_split_known(
        _at(offsets, np.int64),
        len(offsets) - 1,
        _at(data, np.uint8),
        len(data),
        _at(slots, np.int32),
        len(slots),
        _at(name_offsets, np.int64),
        _at(name_data, np.uint8),
        _at(known_ids, np.int32),
        _at(tags, np.int32, True),
        len(tags),
        _at(counts, np.int64, True),
        state.ctypes.data,
    )
    return int(state[0]), int(state[1]), int(state[2])


class UnknownNames:
    """The distinct unknown names met so far, for ``number_unknown``: slots (cap,) int32 and per
    name (cap // 2 rows) its hash (uint64), its (start, end) in the data (int64, (cap // 2, 2))
    and its uses per tag column (int64, (cap // 2, n_cols))."""

    def __init__(self, cap: int, n_cols: int) -> None:
        self.slots = np.full(cap, -1, np.int32)
        self.hashes = np.empty(cap // 2, np.uint64)
        self.at = np.empty((cap // 2, 2), np.int64)
        self.uses = np.zeros((cap // 2, n_cols), np.int64)
        self.filled = np.zeros(1, np.int64)

    @property
    def count(self) -> int:
        return int(self.filled[0])

    def grown(self, rows_needed: int) -> UnknownNames:
        """A copy with room for rows_needed more names."""
        n, cap = self.count, len(self.slots)
        while 2 * (n + rows_needed) > cap:
            cap *= 2
        grown = UnknownNames(cap, self.uses.shape[1])
        for old, new in ((self.hashes, grown.hashes), (self.at, grown.at), (self.uses, grown.uses)):
            new[:n] = old[:n]
        grown.filled[0] = n
        _lib.ck_rehash(_at(grown.slots, np.int32, True), cap, _at(grown.hashes, np.uint64), n)
        return grown


def number_unknown(offsets, data, tags, names: UnknownNames, post: int, k: int) -> tuple[int, int]:
    """The unknown tokens (-1 in tags, as ``split_known`` left them) numbered by name, from post
    ``post`` and row ``k`` of tags on: each becomes -1 - u for the u-th distinct unknown name.
    Stops early, at a post boundary, when ``names`` might fill up (the caller grows it and calls
    again). Returns (the next post, the next row of tags)."""
    state = np.array([post, k], np.int64)
    _lib.ck_number_unknown(
        _at(offsets, np.int64),
        len(offsets) - 1,
        _at(data, np.uint8),
        _at(tags, np.int32, True),
        _at(names.slots, np.int32, True),
        len(names.slots),
        _at(names.hashes, np.uint64, True),
        _at(names.at, np.int64, True),
        _at(names.uses, np.int64, True),
        names.uses.shape[1],
        names.filled.ctypes.data,
        state.ctypes.data,
    )
    return int(state[0]), int(state[1])


def resolve(tags: np.ndarray, new_ids: np.ndarray) -> None:
    """In place: every -1 - u in tags (n,) int32 becomes new_ids[u] (int32)."""
    _lib.ck_resolve(_at(tags, np.int32, True), len(tags), _at(new_ids, np.int32))


def group_runs(post_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows grouped by post, through runs of equal post ids (no per-row reordering).

    post_ids (n,) int64 -> posts (P,) int64 distinct ids in first-seen order, run_bounds (R + 1,)
    int64 row offsets of the runs, post_runs (P + 1,) int64 offsets into run_order (R,) int64,
    the runs of each post. Dump tags are written post by post, so R is close to P.
    """
    at, n = _at(post_ids, np.int64), len(post_ids)
    n_runs = _lib.ck_count_runs(at, n)
    run_bounds, posts = np.empty(n_runs + 1, np.int64), np.empty(n_runs, np.int64)
    post_runs, run_order = np.empty(n_runs + 1, np.int64), np.empty(n_runs, np.int64)
    n_posts = _lib.ck_group_runs(
        at, n, n_runs, run_bounds.ctypes.data, posts.ctypes.data, post_runs.ctypes.data, run_order.ctypes.data
    )
    if n_posts < 0:
        raise MemoryError(f"grouping {n} rows by post")
    return posts[:n_posts], run_bounds, post_runs[: n_posts + 1], run_order


def canonical_rows(grouped, tables, live, first_post: int, out, stamp, base: int, d: int, k: int, stop: int) -> tuple[int, int]:
    """Per post from ``d`` to ``stop``: its aliased dump tags once each, then every implied tag it
    lacks, written from row ``k`` of out on; stops before a post that out might not hold.

    grouped = (post_runs (P + 1,), run_order (R,), run_bounds (R + 1,)) int64 from ``group_runs``,
    and tag_ids (n,) int32 the dump's dense tag numbers; tables = (alias (T,) int32 the canonical
    number of each tag, closure_starts (T + 1,) int64 and closure_ids (m,) int32 the implied
    numbers of each tag, CSR); live (P,) bool; out = (post_rows (stop - first_post,) int64 the
    number of rows of each post from first_post on, tag (cap,) int32, implied (cap,) bool, counts
    (T,) int64 live posts per tag); stamp (T,) int64 marks what the current post has, as base + d
    (base must differ on every call). Returns (the next post, the next row).
    """
    post_runs, run_order, run_bounds, tag_ids = grouped
    alias, closure_starts, closure_ids = tables
    post_rows, out_tag, out_implied, counts = out
    if len(post_rows) < stop - first_post or not 0 <= first_post <= d <= stop <= len(live):
        raise ValueError(f"canonical_rows: posts {d}..{stop} from {first_post} do not fit {len(post_rows)} row counts")
    state = np.array([d, k], np.int64)
    _lib.ck_canonical_rows(
        _at(post_runs, np.int64),
        _at(run_order, np.int64),
        _at(run_bounds, np.int64),
        _at(tag_ids, np.int32),
        _at(alias, np.int32),
        _at(closure_starts, np.int64),
        _at(closure_ids, np.int32),
        _at(live, np.bool_),
        first_post,
        _at(post_rows, np.int64, True),
        _at(out_tag, np.int32, True),
        _at(out_implied, np.bool_, True),
        len(out_tag),
        _at(counts, np.int64, True),
        _at(stamp, np.int64, True),
        base,
        stop,
        state.ctypes.data,
    )
    return int(state[0]), int(state[1])
