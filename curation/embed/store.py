"""The embedding store: float16 vectors in ``.npy`` shards, indexed in the catalog.

``WORKSPACE/cache/embeddings/<embedder slug>/shard_<n>.npy`` holds (n, D) float16 rows, each
L2-normalised; the catalog table ``embeddings(md5, embedder, shard, row)`` says where each
file's vector is. Shards are opened memory-mapped, so a 10M x 512 store never has to fit in
RAM; a shard enters the table only once it is completely written, so an interrupted run
keeps every finished shard and resumes after it.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

CACHE_DIR = Path("cache") / "embeddings"


def embedder_slug(embedder_id: str) -> str:
    """A folder name for an embedder id: readable prefix plus a short hash of the whole id."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_id.split("|")[0])[-40:]
    return f"{readable}-{hashlib.sha256(embedder_id.encode()).hexdigest()[:10]}"


class EmbeddingStore:
    """Vectors of one embedder in one workspace."""

    def __init__(self, workspace: Path, embedder_id: str) -> None:
        self.embedder_id = embedder_id
        self.folder = Path(workspace) / CACHE_DIR / embedder_slug(embedder_id)
        self._maps: dict[int, np.ndarray] = {}

    def shard_path(self, shard: int) -> Path:
        return self.folder / f"shard_{shard:06d}.npy"

    def next_shard(self, cat) -> int:
        last = cat.scalar("SELECT max(shard) FROM embeddings WHERE embedder = ?", [self.embedder_id])
        on_disk = [int(p.stem.split("_")[1]) for p in self.folder.glob("shard_*.npy")] if self.folder.is_dir() else []
        return max([-1 if last is None else last] + on_disk) + 1

    def write_shard(self, cat, shard: int, md5s: list[str], vectors: np.ndarray) -> None:
        """Write (n, D) float16 ``vectors`` for ``md5s`` to a new shard, then index it in the catalog."""
        self.save_shard_file(shard, vectors)
        self.index_shard(cat, shard, md5s)

    def save_shard_file(self, shard: int, vectors: np.ndarray) -> None:
        """The shard's .npy, complete on disk (written aside, synced, then renamed) before it is indexed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.shard_path(shard)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float16))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def index_shard(self, cat, shard: int, md5s: list[str]) -> None:
        cat.con.execute(
            "INSERT OR REPLACE INTO embeddings SELECT unnest($md5) AS md5, $embedder AS embedder, $shard AS shard, "
            "unnest(range(len($md5))) AS row",
            {"md5": md5s, "embedder": self.embedder_id, "shard": shard},
        )

    def shard(self, shard: int) -> np.ndarray:
        """(n, D) float16, memory-mapped."""
        if shard not in self._maps:
            self._maps[shard] = np.load(self.shard_path(shard), mmap_mode="r")
        return self._maps[shard]

    def gather(self, locations: list[tuple[int, int]], out: np.ndarray | None = None) -> np.ndarray:
        """Rows at (shard, row) ``locations`` -> (N, D) float16, in that order (into ``out`` if given,
        e.g. a memory-mapped array for stores larger than RAM)."""
        if not locations:
            return np.zeros((0, 0), dtype=np.float16)
        dim = self.shard(locations[0][0]).shape[1]
        out = np.empty((len(locations), dim), dtype=np.float16) if out is None else out
        shards = np.array([s for s, _ in locations], dtype=np.int64)
        rows = np.array([r for _, r in locations], dtype=np.int64)
        for shard in np.unique(shards):
            where = np.flatnonzero(shards == shard)
            out[where] = self.shard(int(shard))[rows[where]]
        return out
