"""Pixel checks already made, kept between runs: a rebuild checks only the pairs it has not.

Comparing the thumbnails of a candidate pair is most of what dedupe costs (on a 20,000-post
board, ~95 of 115 s), and its answer depends only on the two files and the check: the
thumbnails (fixed by each file's md5 and the hash version), the limits, and the code of
:mod:`curation.dedupe.align`. So the answer of every pair checked in a run is stored in the
catalog table ``pixel_checks(pair, score)``, keyed by the check and the two md5s in the order
they were compared, and the next run reuses it: after a delta of new posts, only pairs with a
new file are compared. Candidates are still proposed over the whole board, so the edges are the
ones a run from scratch finds. The table holds the pairs of the last run only (it is replaced,
not appended to), so pairs of removed posts and of older code leave it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from types import ModuleType

import pyarrow as pa

from ..code import module_closure
from ..images.hashing import HASH_VERSION
from . import align


@cache
def _code(*modules: ModuleType) -> bytes:
    closure = module_closure(m.__name__ for m in modules)
    return b"".join(closure[name].read_bytes() for name in sorted(closure))


def check_id(limits, same_canvas_too: bool = False, modules: tuple[ModuleType, ...] = (align,)) -> str:
    """Names one pixel check: its limits, the thumbnails' hash version and the code of the
    modules that make it (the alignment's by default) and of every curation module they import,
    however indirectly (the files' reading and reduction, say). A stored answer is reused only by
    the same check."""
    digest = hashlib.sha1(_code(*modules))
    digest.update(repr((limits, same_canvas_too, HASH_VERSION)).encode())
    return digest.hexdigest()[:16]


class PixelChecks:
    """The answers of the last run's pixel checks, looked up by pair, and this run's to store.

    ``cat`` is a stage's catalog (:func:`~curation.catalog.staged_catalog`): the last run's
    answers are read from ``catalog.pixel_checks``; :meth:`write` replaces the table with the
    pairs this run used."""

    def __init__(self, cat) -> None:
        self._cat = cat
        self._used: dict[str, float | None] = {}
        self.reused = 0

    @staticmethod
    def key(check: str, md5_a: str, md5_b: str) -> str:
        return f"{check}:{md5_a}:{md5_b}"

    def known(self, keys: list[str]) -> dict[str, float | None]:
        """key -> the stored answer (the score of a pair that aligned, None for one that did not),
        for the keys the last run checked."""
        if not keys or not self._cat.has_table("pixel_checks"):
            return {}
        with self._cat.registered("wanted_checks", pa.table({"pair": keys})):
            found = dict(self._cat.run("marts/pixel_checks_known").fetchall())
        self._used.update(found)
        self.reused += len(found)
        return found

    def stored_with_prefix(self, prefix: str) -> dict[str, float | None]:
        """Every answer of the last run whose key starts with ``prefix`` (not carried into this
        run's table unless :meth:`add` is called for it)."""
        if not self._cat.has_table("pixel_checks"):
            return {}
        return dict(self._cat.run("marts/pixel_checks_with_prefix", prefix=prefix).fetchall())

    def add(self, key: str, score: float | None) -> None:
        self._used[key] = score

    def write(self) -> None:
        """This run's answers (reused and new) as ``pixel_checks``."""
        table = pa.table({"pair": list(self._used), "score": pa.array(list(self._used.values()), pa.float64())})
        with self._cat.registered("used_checks", table):
            self._cat.run("marts/pixel_checks_write")
