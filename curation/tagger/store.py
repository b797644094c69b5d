"""Predicted probabilities on disk: float16, tag-major chunks, memory-mapped.

``WORKSPACE/cache/predictions/<name>/`` holds ``post_ids.npy`` (N,) int64, ``tags.csv`` (the K
tag names in column order), ``chunk_<c>.npy`` of shape (tags in chunk, N) float16 (tag-major:
one tag's scores over all posts are contiguous, which is how suggestions and per-tag metrics
read them), optionally ``rating.npy`` (N, 4) float16, and ``meta.json``. Rows never written are
NaN. A 1M x 5k set is 10 GB on disk and is never one array in RAM.

A new store is written aside, in ``<name>.partial/``, and swapped in only when complete
(:func:`building`): a run killed while writing leaves the previous store whole, and a kill in
the middle of the swap is undone the next time the store is opened.

A small rebuild does not rewrite the store: :meth:`PredictionStore.append` adds a segment
(``more/seg_<n>/``: the new posts' ``post_ids.npy``, ``scores.npy`` (K, n) float16 tag-major,
``rating.npy``, and ``dropped.npy``, the posts that leave the store with it) and then names it
in ``meta.json``, which is replaced in one rename: a segment not named there does not exist. A
reader sees one store: the base posts, then each segment's, less the posts dropped after them.
A full training writes a new store without segments, under a new ``store_id`` (in ``meta.json``;
segments keep it, so it names a set of probabilities that only grows).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

PREDICTIONS_DIR = Path("cache") / "predictions"
SEGMENTS_DIR = "more"  # a store's appended segments


def tagger_folder(workspace: Path, name: str) -> Path:
    return Path(workspace) / PREDICTIONS_DIR / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def register(cat, workspace: Path, name: str, kind: str, folder: Path, posts: int, tags: int) -> None:
    """Record a prediction set in the catalog's ``taggers`` table (folder by :func:`recorded_folder`)."""
    cat.run("marts/taggers_add", name=name, kind=kind, folder=recorded_folder(workspace, folder), posts=posts, tags=tags)


def recorded_folder(workspace: Path, folder: Path) -> str:
    """How the ``taggers`` table records a store: relative to the workspace when inside it, so
    that the workspace reads the same from any directory and after a move."""
    folder, workspace = Path(folder).resolve(), Path(workspace).resolve()
    return str(folder.relative_to(workspace)) if folder.is_relative_to(workspace) else str(folder)


def open_recorded(workspace: Path, recorded: str) -> PredictionStore:
    """The store a ``taggers`` row names. Older catalogs recorded paths relative to the directory
    ``curate`` ran in; those are found by their name under the workspace."""
    path = Path(recorded)
    if path.is_absolute():
        return PredictionStore(path)
    candidates = [Path(workspace) / path, Path(workspace) / PREDICTIONS_DIR / path.name, path]
    return PredictionStore(next((c for c in candidates if (c / "meta.json").is_file()), candidates[0]))


def _aside(folder: Path, suffix: str) -> Path:
    return folder.with_name(folder.name + suffix)


def _recover(folder: Path) -> None:
    """A swap cut short between its two renames: the previous store goes back in place."""
    old = _aside(folder, ".old")
    if not folder.exists() and old.exists():
        os.replace(old, folder)


@contextmanager
def building(
    folder: Path, post_ids: np.ndarray, tags: list[str], chunk_tags: int, meta: dict, ratings: bool = True, fill: bool = True
) -> Iterator[PredictionStore]:
    """A new store for ``folder``, written in ``<folder>.partial`` and swapped in when the block
    ends without an error (the old one set aside, the new one renamed in, the old one removed).
    ``fill=False`` when every post will be written (see :meth:`PredictionStore.create`)."""
    folder = Path(folder)
    _recover(folder)
    partial, old = _aside(folder, ".partial"), _aside(folder, ".old")
    store = PredictionStore.create(partial, post_ids, tags, chunk_tags, meta, ratings, fill)
    yield store
    store.close()
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)


class PredictionStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        _recover(self.folder)
        self._chunks: dict[int, np.ndarray] = {}
        self._pieces: list[_Piece] | None = None

    @classmethod
    def create(
        cls,
        folder: Path,
        post_ids: np.ndarray,
        tags: list[str],
        chunk_tags: int,
        meta: dict,
        ratings: bool = True,
        fill: bool = True,
    ) -> PredictionStore:
        """A new, NaN-filled store (an old one in ``folder`` is replaced). ``fill=False`` leaves the
        files sparse, zeros until written: for a writer that writes every post, it saves writing
        the whole store once more."""
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        np.save(folder / "post_ids.npy", np.asarray(post_ids, dtype=np.int64))
        pl.DataFrame({"name": tags}).write_csv(folder / "tags.csv")
        for c, start in enumerate(range(0, len(tags), chunk_tags)):
            chunk = np.lib.format.open_memmap(
                folder / f"chunk_{c:05d}.npy",
                mode="w+",
                dtype=np.float16,
                shape=(min(chunk_tags, len(tags) - start), len(post_ids)),
            )
            if fill:
                chunk[:] = np.nan
                chunk.flush()
        if ratings:
            rating = np.lib.format.open_memmap(folder / "rating.npy", mode="w+", dtype=np.float16, shape=(len(post_ids), 4))
            if fill:
                rating[:] = np.nan
                rating.flush()
        (folder / "meta.json").write_text(
            json.dumps(
                {**meta, "chunk_tags": chunk_tags, "posts": len(post_ids), "tags": len(tags), "store_id": uuid.uuid4().hex},
                indent=1,
                default=str,
            )
        )
        return cls(folder)

    @property
    def meta(self) -> dict:
        return json.loads((self.folder / "meta.json").read_text())

    @property
    def post_ids(self) -> np.ndarray:
        """(N,) int64: the base posts, then each segment's, less those dropped since."""
        pieces = self._layout()
        if len(pieces) == 1 and pieces[0].live is None:
            return pieces[0].post_ids
        return np.concatenate([piece.live_ids for piece in pieces])

    @property
    def segments(self) -> list[str]:
        return list(self.meta.get("segments", []))

    def _layout(self) -> list[_Piece]:
        """The base and each segment, with the posts of each still in the store."""
        if self._pieces is None:
            names = self.segments
            folders = [self.folder] + [self.folder / SEGMENTS_DIR / name for name in names]
            dropped = [np.load(f / "dropped.npy") if i else np.zeros(0, np.int64) for i, f in enumerate(folders)]
            pieces = []
            for i, folder in enumerate(folders):
                ids = np.load(folder / "post_ids.npy")
                later = np.concatenate(dropped[i + 1 :]) if i + 1 < len(folders) else np.zeros(0, np.int64)
                live = ~np.isin(ids, later) if len(later) else None
                pieces.append(_Piece(folder, ids, live))
            self._pieces = pieces
        return self._pieces

    def scores(self, tag: int) -> np.ndarray:
        """(N,) float16: one tag's probabilities over the store's posts, in :attr:`post_ids` order."""
        size = self.meta["chunk_tags"]
        pieces = self._layout()
        base = pieces[0].take(self.chunk(tag // size)[tag % size])
        if len(pieces) == 1:
            return base
        return np.concatenate([base, *(piece.take(piece.scores()[tag]) for piece in pieces[1:])])

    def append(self, post_ids: np.ndarray, probabilities: np.ndarray, rating: np.ndarray | None, dropped: np.ndarray) -> None:
        """Add a segment: (n,) new posts with their (n, K) tag and (n, 4) rating probabilities, in
        the store's tag order, and the (m,) posts that leave the store. Posts already in it cannot
        be added again."""
        post_ids = np.asarray(post_ids, dtype=np.int64)
        if np.isin(post_ids, self.post_ids).any():
            raise ValueError("append: some posts are in the store already")
        if probabilities.shape != (len(post_ids), self.meta["tags"]):
            raise ValueError(f"append: probabilities {probabilities.shape}, expected ({len(post_ids)}, {self.meta['tags']})")
        meta = self.meta
        names = list(meta.get("segments", []))
        more = self.folder / SEGMENTS_DIR
        for stale in more.glob("seg_*") if more.is_dir() else ():  # left by a run killed before naming it
            if stale.name not in names:
                shutil.rmtree(stale)
        name = f"seg_{int(names[-1].removeprefix('seg_')) + 1 if names else 1:05d}"
        folder = more / name
        folder.mkdir(parents=True)
        np.save(folder / "post_ids.npy", post_ids)
        np.save(folder / "scores.npy", np.ascontiguousarray(np.asarray(probabilities, dtype=np.float16).T))
        np.save(folder / "dropped.npy", np.asarray(dropped, dtype=np.int64))
        if rating is not None:
            np.save(folder / "rating.npy", np.asarray(rating, dtype=np.float16))
        meta["segments"] = [*names, name]
        temporary = self.folder / "meta.json.new"
        temporary.write_text(json.dumps(meta, indent=1, default=str))
        os.replace(temporary, self.folder / "meta.json")
        self._pieces = None
        self._chunks.clear()

    @property
    def tags(self) -> list[str]:
        return pl.read_csv(self.folder / "tags.csv")["name"].to_list()

    def chunk(self, c: int, writable: bool = False) -> np.ndarray:
        """(tags in chunk c, N) float16, memory-mapped."""
        if writable:
            return np.load(self.folder / f"chunk_{c:05d}.npy", mmap_mode="r+")
        if c not in self._chunks:
            self._chunks[c] = np.load(self.folder / f"chunk_{c:05d}.npy", mmap_mode="r")
        return self._chunks[c]

    def close(self) -> None:
        """Drop the memory maps this object holds (writes are flushed as they are made)."""
        self._chunks.clear()

    def chunks(self):
        """Yield (first tag index, (k, N) array) for every chunk."""
        size = self.meta["chunk_tags"]
        for c in range(-(-self.meta["tags"] // size)):
            yield c * size, self.chunk(c)

    def write(self, rows: np.ndarray, probabilities: np.ndarray, rating: np.ndarray | None = None) -> None:
        """Store (B, K) tag probabilities (and (B, 4) rating probabilities) for post positions ``rows``."""
        size = self.meta["chunk_tags"]
        for c, start in enumerate(range(0, probabilities.shape[1], size)):
            chunk = self.chunk(c, writable=True)
            chunk[:, rows] = probabilities[:, start : start + size].T
            chunk.flush()
        if rating is not None:
            stored = np.load(self.folder / "rating.npy", mmap_mode="r+")
            stored[rows] = rating
            stored.flush()
        self._chunks.clear()

    def dense(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """(len(rows), len(columns)) float32 for post positions and tag indices (a slice for evaluation)."""
        size = self.meta["chunk_tags"]
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), len(columns)), dtype=np.float32)
        for piece, here, at in self._locate(rows):
            if piece.folder == self.folder:
                for c in np.unique(columns // size):
                    which = np.flatnonzero(columns // size == c)
                    out[np.ix_(here, which)] = self.chunk(int(c))[columns[which] - c * size][:, at].T
            else:
                out[here] = piece.scores()[columns][:, at].T
        return out

    def _locate(self, rows: np.ndarray):
        """Yield (piece, positions in ``rows``, columns in that piece's files) for store positions."""
        start = 0
        for piece in self._layout():
            columns = piece.live_columns
            here = np.flatnonzero((rows >= start) & (rows < start + len(columns)))
            if len(here):
                yield piece, here, columns[rows[here] - start]
            start += len(columns)

    def rating(self) -> np.ndarray | None:
        """(N, 4) float16 rating probabilities (memory-mapped when the store has no segments)."""
        path = self.folder / "rating.npy"
        if not path.exists():
            return None
        pieces = self._layout()
        if len(pieces) == 1 and pieces[0].live is None:
            return np.load(path, mmap_mode="r")
        parts = []
        for piece in pieces:
            file = piece.folder / "rating.npy"
            values = np.load(file) if file.exists() else np.full((len(piece.post_ids), 4), np.nan, np.float16)
            parts.append(values[piece.live_columns])
        return np.concatenate(parts)


class _Piece:
    """The base of a store or one of its segments: the posts its files hold and which are live."""

    def __init__(self, folder: Path, post_ids: np.ndarray, live: np.ndarray | None) -> None:
        self.folder, self.post_ids, self.live = folder, post_ids, live
        self._scores: np.ndarray | None = None

    @property
    def live_ids(self) -> np.ndarray:
        return self.post_ids if self.live is None else self.post_ids[self.live]

    @property
    def live_columns(self) -> np.ndarray:
        return np.arange(len(self.post_ids)) if self.live is None else np.flatnonzero(self.live)

    def take(self, row: np.ndarray) -> np.ndarray:
        """A (n,) row over this piece's posts -> its live posts' values."""
        return np.asarray(row) if self.live is None else np.asarray(row)[self.live]

    def scores(self) -> np.ndarray:
        """(K, n) float16 of a segment, memory-mapped."""
        if self._scores is None:
            self._scores = np.load(self.folder / "scores.npy", mmap_mode="r")
        return self._scores
