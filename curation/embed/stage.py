"""``curate embed``: one vector per selected image file, cached by (file md5, embedder).

Files are decoded and preprocessed in worker processes (a torch DataLoader) while the model
runs, so the model is the bottleneck. Vectors are stored float16 and L2-normalised (see
:mod:`curation.embed.store`); a re-run embeds only files it has not seen with this embedder.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import catalog_in_place, open_catalog
from ..config import EmbedConfig, load_config
from ..context import Where, stage_context
from ..errors import StageNotRun
from ..images.limits import inherit_pixel_limit
from ..lock import workspace_lock
from ..progress import progress
from .models import Embedder, Recipe, embedder_id, load_embedder
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
    shards: list[tuple[str, int, list[str]]] = field(default_factory=list)  # (store, shard, md5s) not yet indexed

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


class ImageFiles:
    """A map-style dataset: index -> (index, (3, S, S) float32 -- or a tuple of them, one per
    size, with ``[embed] scales`` -- or None, error text)."""

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
    batch = None
    if good and isinstance(good[0][1], tuple):  # one (B, 3, s, s) tensor per size
        batch = tuple(torch.from_numpy(np.stack([x[k] for _, x in good])) for k in range(len(good[0][1])))
    elif good:
        batch = torch.from_numpy(np.stack([x for _, x in good]))
    return [i for i, _ in good], batch, bad


def worker_context(workers: int) -> str | None:
    """How DataLoader starts its workers: ``CURATE_WORKER_START`` (fork, spawn or forkserver) when
    set -- an orchestrator whose runtime does not survive fork sets it to spawn -- else fork from
    the main thread (fastest) and spawn from any other thread, where forking is unsafe."""
    if not workers:
        return None
    chosen = os.environ.get("CURATE_WORKER_START")
    if chosen:
        return chosen
    return None if threading.current_thread() is threading.main_thread() else "spawn"


def batches(paths: list[str], embedder: Embedder, batch_size: int, workers: int):
    """Yield (indices, (B, 3, S, S) float32 tensor -- a tuple of them, one per size, with
    ``scales`` -- or None, [(index, error)]) in input order."""
    from torch.utils.data import DataLoader

    prep = embedder.preprocess
    loader = DataLoader(
        ImageFiles(paths, prep.inputs if prep.scales else prep),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_images,
        prefetch_factor=4 if workers else None,
        pin_memory=embedder.device == "cuda",
        multiprocessing_context=worker_context(workers),
        worker_init_fn=inherit_pixel_limit if workers else None,
    )
    yield from loader


def embedder_for(cfg: EmbedConfig) -> Embedder:
    return load_embedder(cfg.model, cfg.device, cfg.image_size or None, cfg.preprocess, cfg.background, recipe_of(cfg))


def configured_embedder_id(cfg: EmbedConfig) -> str:
    return embedder_id(cfg.model, cfg.image_size or None, cfg.preprocess, cfg.background, recipe_of(cfg))


def plain_embedder_id(cfg: EmbedConfig) -> str:
    """The id of the plain vectors (no recipe) that dedupe compares; the stage stores them beside
    the recipe's features, from the same passes of the model."""
    return embedder_id(cfg.model, cfg.image_size or None, cfg.preprocess, cfg.background)


def stored_embedder_ids(cfg: EmbedConfig) -> list[str]:
    """What ``curate embed`` fills: the configured features, then the plain vectors when a recipe differs."""
    return list(dict.fromkeys([configured_embedder_id(cfg), plain_embedder_id(cfg)]))


def recipe_of(cfg: EmbedConfig) -> Recipe:
    return Recipe(flip=cfg.flip, layers=tuple(cfg.layers), scales=tuple(cfg.scales))


@dataclass
class EmbedPart:
    """A slice of the files to embed, with the shard numbers it may write (in every store) and,
    per embedder id it fills, the md5s that store lacks (None: all of them)."""

    md5s: list[str]
    paths: list[str]
    first_shard: int
    lacking: dict[str, set[str]] | None = None

    def wants(self, embedder: str, md5: str) -> bool:
        return self.lacking is None or md5 in self.lacking.get(embedder, ())


def plan_embed(workspace: Where, parts: int = 1) -> tuple[str, int, list[EmbedPart]]:
    """(embedder id, files already stored, parts of the work split by md5) -- read-only.

    Each part owns a range of shard numbers wide enough for its files, so that parts written by
    different workers never collide."""
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.embed
    embedder, *others = stored_embedder_ids(cfg)
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("selection") or not cat.scalar("SELECT count(*) FROM images"):
            raise StageNotRun(f"{workspace}: no inspected images yet; run `curate images {workspace}` first")
        lacking = {key: dict(cat.run("marts/embed_todo", embedder=key).fetchall()) for key in (embedder, *others)}
        cached = cat.scalar("SELECT count(*) FROM embeddings WHERE embedder = ?", [embedder])
        shard = max(EmbeddingStore(workspace, key).next_shard(cat) for key in lacking)
    todo = sorted({md5: path for paths in lacking.values() for md5, path in paths.items()}.items())
    split: list[list[tuple[str, str]]] = [[] for _ in range(max(1, parts))]
    for md5, path in todo:
        split[int(md5[:8], 16) % len(split) if all(c in "0123456789abcdef" for c in md5[:8].lower()) else 0].append((md5, path))
    out = []
    for rows in split:
        if rows:
            md5s = [m for m, _ in rows]
            wanted = {key: set(md5s) & set(paths) for key, paths in lacking.items()} if others else None
            out.append(EmbedPart(md5s, [p for _, p in rows], shard, wanted))
            shard += -(-len(rows) // cfg.shard_size)
    return embedder, cached, out


def embed_part(
    workspace: Where,
    part: EmbedPart,
    embedder: Embedder | None = None,
    index: bool = True,
    loader_workers: int | None = None,
) -> EmbedReport:
    """:func:`_embed_part` under the workspace lock when it indexes into the catalog (in place:
    no other writer may replace the catalog meanwhile)."""
    ctx = stage_context(workspace)
    if not index:
        return _embed_part(ctx, part, embedder, index, loader_workers)
    with workspace_lock(ctx.workspace, ctx.config.runner.lock_wait):
        return _embed_part(ctx, part, embedder, index, loader_workers)


def _embed_part(
    workspace: Path | str,
    part: EmbedPart,
    embedder: Embedder | None = None,
    index: bool = True,
    loader_workers: int | None = None,
) -> EmbedReport:
    """Embed one part's files into new shard files and index each shard as it completes.

    Indexing goes straight into the catalog (not a staged copy): a shard enters the
    ``embeddings`` table only after its file is complete, so an interrupted run keeps every
    finished shard and the next run resumes after them. With ``index=False`` (workers of a
    distributed run, which must not write the catalog) the shards and failures are returned
    for :func:`commit_embed`. ``loader_workers`` overrides ``[embed] workers`` (0 inside a worker of a
    cluster, which is itself the parallelism)."""
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.embed
    embedder = embedder or embedder_for(cfg)
    keys = list(dict.fromkeys([embedder.id, embedder.plain_id]))  # features first; plain vectors when they differ
    pending = {key: _Pending(EmbeddingStore(workspace, key), part.first_shard) for key in keys}
    report = EmbedReport(embedder=embedder.id, device=embedder.device)
    started = time.perf_counter()
    cat = open_catalog(workspace, memory_limit=config.runner.duckdb_memory_limit) if index else None

    def flush(store: _Pending) -> None:
        if store.md5s:
            vectors = np.concatenate(store.vectors)
            if cat is not None:
                store.store.write_shard(cat, store.shard, store.md5s, vectors)
            else:
                store.store.save_shard_file(store.shard, vectors)
                report.shards.append((store.store.embedder_id, store.shard, list(store.md5s)))
            store.shard += 1
            store.md5s, store.vectors = [], []

    try:
        with progress(f"embed ({embedder.device})", len(part.paths)) as advance:
            workers = cfg.workers if loader_workers is None else loader_workers
            for indices, batch, bad in batches(part.paths, embedder, cfg.batch_size, workers):
                if batch is not None:
                    plain, features = embedder.embed_both(batch)
                    md5s = [part.md5s[i] for i in indices]
                    for key, vectors in zip(keys, (features, plain)):
                        keep = [r for r, md5 in enumerate(md5s) if part.wants(key, md5)]
                        pending[key].add([md5s[r] for r in keep], vectors[keep])
                    report.embedded += len(md5s)
                report.failed.extend((part.paths[i], err) for i, err in bad)
                for store in pending.values():
                    if len(store.md5s) >= cfg.shard_size:
                        flush(store)
                advance(len(indices) + len(bad))
            for store in pending.values():
                flush(store)
        report.seconds = time.perf_counter() - started
        if cat is not None:
            for key in keys:
                _record_rejects(cat, key, report.failed, dict(zip(part.paths, part.md5s)))
    finally:
        if cat is not None:
            cat.close()
    log.info(
        "embedded %d files in %.1fs (%.1f/s) with %s", report.embedded, report.seconds, report.images_per_second, embedder.id
    )
    return report


@dataclass
class _Pending:
    """Vectors of one store waiting for a full shard."""

    store: EmbeddingStore
    shard: int
    md5s: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)

    def add(self, md5s: list[str], vectors: np.ndarray) -> None:
        if md5s:
            self.md5s.extend(md5s)
            self.vectors.append(vectors)


def _record_rejects(cat, embedder_id: str, failed: list[tuple[str, str]], md5_of: dict[str, str]) -> None:
    if failed:
        rejects = pl.DataFrame(
            {"md5": [md5_of[p] for p, _ in failed], "path": [p for p, _ in failed], "error": [e for _, e in failed]}
        )
        with cat.registered("new_embed_rejects", rejects.to_arrow()):
            cat.run("marts/embed_rejects_add", embedder=embedder_id)


def commit_embed(workspace: Path | str, embedder_id: str, parts: list[EmbedPart], reports: list[EmbedReport]) -> EmbedReport:
    """Index the shards and failures that workers of a distributed run wrote (``index=False``)."""
    workspace = Path(workspace)
    keys = stored_embedder_ids(load_config(workspace).embed)  # also a config error before any work
    total = EmbedReport(embedder=embedder_id, device=reports[0].device if reports else "")
    md5_of = {p: m for part in parts for p, m in zip(part.paths, part.md5s)}
    with catalog_in_place(workspace) as cat:
        for report in reports:
            for key, shard, md5s in report.shards:
                EmbeddingStore(workspace, key).index_shard(cat, shard, md5s)
            total.embedded += report.embedded
            total.failed += report.failed
            total.seconds = max(total.seconds, report.seconds)
        for key in keys:
            _record_rejects(cat, key, total.failed, md5_of)
    return total


def run_embed(workspace: Where, embedder: Embedder | None = None) -> EmbedReport:
    """Embed every selected, decodable file not yet in the store for the configured embedder."""
    ctx = stage_context(workspace)  # read once, passed down
    embedder_key, cached, parts = plan_embed(ctx)
    if not parts:
        return EmbedReport(embedder=embedder_key, cached=cached)
    report = embed_part(ctx, parts[0], embedder)
    report.cached = cached
    return report


def load_vectors(workspace: Path | str, cat, embedder_id: str, md5s: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vectors for ``md5s`` (N,) -> (has (N,) bool, vectors (M, D) float16 for the M files that have one, in order)."""
    store = EmbeddingStore(Path(workspace), embedder_id)
    with cat.registered("wanted_md5", pl.DataFrame({"md5": md5s, "pos": np.arange(len(md5s))}).to_arrow()):
        rows = cat.rows(
            "SELECT w.pos, e.shard, e.row FROM wanted_md5 w JOIN embeddings e ON e.md5 = w.md5 AND e.embedder = ? ORDER BY w.pos",
            [embedder_id],
        )
    has = np.zeros(len(md5s), dtype=bool)
    has[[r[0] for r in rows]] = True
    return has, store.gather([(r[1], r[2]) for r in rows])
