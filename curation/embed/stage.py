"""``curate embed``: one vector per selected image file, cached by (file md5, embedder).

Files are decoded and preprocessed in worker processes (a torch DataLoader) while the model
runs, so the model is the bottleneck. Vectors are stored float16 and L2-normalised (see
:mod:`curation.embed.store`); a re-run embeds only files it has not seen with this embedder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import open_catalog
from ..config import EmbedConfig, load_config
from ..errors import CurationError
from ..progress import progress
from .models import Embedder, embedder_id, load_embedder
from .store import EmbeddingStore

log = logging.getLogger(__name__)


@dataclass
class EmbedReport:
    embedder: str = ""
    device: str = ""
    embedded: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


class ImageFiles:
    """A map-style dataset: index -> (index, (3, S, S) float32 or None, error text)."""

    def __init__(self, paths: list[str], preprocess) -> None:
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return i, self.preprocess(self.paths[i]), ""
        except Exception as exc:  # a file that passed `curate images` but fails now: record it, go on
            return i, None, f"{type(exc).__name__}: {exc}"


def collate_images(items):
    import torch

    good = [(i, x) for i, x, _ in items if x is not None]
    bad = [(i, err) for i, x, err in items if x is None]
    batch = torch.from_numpy(np.stack([x for _, x in good])) if good else None
    return [i for i, _ in good], batch, bad


def batches(paths: list[str], embedder: Embedder, batch_size: int, workers: int):
    """Yield (indices, (B, 3, S, S) float32 tensor or None, [(index, error)]) in input order."""
    from torch.utils.data import DataLoader

    loader = DataLoader(ImageFiles(paths, embedder.preprocess), batch_size=batch_size, num_workers=workers,
                        collate_fn=collate_images, prefetch_factor=4 if workers else None,
                        pin_memory=embedder.device == "cuda")
    yield from loader


def embedder_for(cfg: EmbedConfig) -> Embedder:
    return load_embedder(cfg.model, cfg.device, cfg.image_size or None, cfg.preprocess, cfg.background)


def configured_embedder_id(cfg: EmbedConfig) -> str:
    return embedder_id(cfg.model, cfg.image_size or None, cfg.preprocess, cfg.background)


def run_embed(workspace: Path | str, embedder: Embedder | None = None) -> EmbedReport:
    """Embed every selected, decodable file not yet in the store for the configured embedder."""
    workspace = Path(workspace)
    config = load_config(workspace)
    cfg = config.embed
    with open_catalog(workspace, memory_limit=config.runner.duckdb_memory_limit) as cat:
        if not cat.has_table("selection") or not cat.scalar("SELECT count(*) FROM images"):
            raise CurationError(f"{workspace}: no inspected images yet; run `curate images {workspace}` first")
        embedder = embedder or embedder_for(cfg)
        store = EmbeddingStore(workspace, embedder.id)
        todo = cat.run("marts/embed_todo", embedder=embedder.id).fetchall()
        report = EmbedReport(embedder=embedder.id, device=embedder.device)
        report.cached = cat.scalar("SELECT count(*) FROM embeddings WHERE embedder = ?", [embedder.id])
        if not todo:
            return report
        md5s, paths = [r[0] for r in todo], [r[1] for r in todo]
        shard = store.next_shard(cat)
        pending_md5: list[str] = []
        pending_vec: list[np.ndarray] = []
        started = time.perf_counter()

        def flush() -> None:
            nonlocal shard
            if pending_md5:
                store.write_shard(cat, shard, pending_md5, np.concatenate(pending_vec))
                shard += 1
                report.embedded += len(pending_md5)
                pending_md5.clear()
                pending_vec.clear()

        with progress(f"embed ({embedder.device})", len(todo)) as advance:
            for indices, batch, bad in batches(paths, embedder, cfg.batch_size, cfg.workers):
                if batch is not None:
                    pending_vec.append(embedder.embed(batch))
                    pending_md5.extend(md5s[i] for i in indices)
                report.failed.extend((paths[i], err) for i, err in bad)
                if len(pending_md5) >= cfg.shard_size:
                    flush()
                advance(len(indices) + len(bad))
            flush()
        report.seconds = time.perf_counter() - started
        if report.failed:
            index = {p: m for m, p in zip(md5s, paths)}
            rejects = pl.DataFrame({"md5": [index[p] for p, _ in report.failed], "path": [p for p, _ in report.failed],
                                    "error": [e for _, e in report.failed]})
            cat.con.register("new_embed_rejects", rejects.to_arrow())
            cat.run("marts/embed_rejects_add", embedder=embedder.id)
            cat.con.unregister("new_embed_rejects")
        log.info("embedded %d files in %.1fs (%.1f/s) with %s", report.embedded, report.seconds,
                 report.images_per_second, embedder.id)
    return report


def load_vectors(workspace: Path | str, cat, embedder_id: str, md5s: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vectors for ``md5s`` (N,) -> (has (N,) bool, vectors (M, D) float16 for the M files that have one, in order)."""
    store = EmbeddingStore(Path(workspace), embedder_id)
    cat.con.register("wanted_md5", pl.DataFrame({"md5": md5s, "pos": np.arange(len(md5s))}).to_arrow())
    rows = cat.rows("SELECT w.pos, e.shard, e.row FROM wanted_md5 w JOIN embeddings e ON e.md5 = w.md5 "
                    "AND e.embedder = ? ORDER BY w.pos", [embedder_id])
    cat.con.unregister("wanted_md5")
    has = np.zeros(len(md5s), dtype=bool)
    has[[r[0] for r in rows]] = True
    return has, store.gather([(r[1], r[2]) for r in rows])
