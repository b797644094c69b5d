"""Predicted probabilities on disk: float16, tag-major chunks, memory-mapped.

``WORKSPACE/cache/predictions/<name>/`` holds ``post_ids.npy`` (N,) int64, ``tags.csv`` (the K
tag names in column order), ``chunk_<c>.npy`` of shape (tags in chunk, N) float16 (tag-major:
one tag's scores over all posts are contiguous, which is how suggestions and per-tag metrics
read them), optionally ``rating.npy`` (N, 4) float16, and ``meta.json``. Rows never written are
NaN. A 1M x 5k set is 10 GB on disk and is never one array in RAM.

A new store is written aside, in ``<name>.partial/``, and swapped in only when complete
(:func:`building`): a run killed while writing leaves the previous store whole, and a kill in
the middle of the swap is undone the next time the store is opened.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

PREDICTIONS_DIR = Path("cache") / "predictions"


def tagger_folder(workspace: Path, name: str) -> Path:
    return Path(workspace) / PREDICTIONS_DIR / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _aside(folder: Path, suffix: str) -> Path:
    return folder.with_name(folder.name + suffix)


def _recover(folder: Path) -> None:
    """A swap cut short between its two renames: the previous store goes back in place."""
    old = _aside(folder, ".old")
    if not folder.exists() and old.exists():
        os.replace(old, folder)


@contextmanager
def building(
    folder: Path, post_ids: np.ndarray, tags: list[str], chunk_tags: int, meta: dict, ratings: bool = True
) -> Iterator[PredictionStore]:
    """A new store for ``folder``, written in ``<folder>.partial`` and swapped in when the block
    ends without an error (the old one set aside, the new one renamed in, the old one removed)."""
    folder = Path(folder)
    _recover(folder)
    partial, old = _aside(folder, ".partial"), _aside(folder, ".old")
    store = PredictionStore.create(partial, post_ids, tags, chunk_tags, meta, ratings)
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

    @classmethod
    def create(
        cls, folder: Path, post_ids: np.ndarray, tags: list[str], chunk_tags: int, meta: dict, ratings: bool = True
    ) -> PredictionStore:
        """A new, NaN-filled store (an old one in ``folder`` is replaced)."""
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
            chunk[:] = np.nan
            chunk.flush()
        if ratings:
            rating = np.lib.format.open_memmap(folder / "rating.npy", mode="w+", dtype=np.float16, shape=(len(post_ids), 4))
            rating[:] = np.nan
            rating.flush()
        (folder / "meta.json").write_text(
            json.dumps({**meta, "chunk_tags": chunk_tags, "posts": len(post_ids), "tags": len(tags)}, indent=1, default=str)
        )
        return cls(folder)

    @property
    def meta(self) -> dict:
        return json.loads((self.folder / "meta.json").read_text())

    @property
    def post_ids(self) -> np.ndarray:
        return np.load(self.folder / "post_ids.npy")

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
        out = np.empty((len(rows), len(columns)), dtype=np.float32)
        for c in np.unique(columns // size):
            which = np.flatnonzero(columns // size == c)
            out[:, which] = self.chunk(int(c))[columns[which] - c * size][:, rows].T
        return out

    def rating(self) -> np.ndarray | None:
        path = self.folder / "rating.npy"
        return np.load(path, mmap_mode="r") if path.exists() else None
