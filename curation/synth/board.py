"""``generate_board``: a whole synthetic board (metadata, images, truth) in one folder."""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..processes import worker_pool
from ..progress import progress
from .posts import Post, SynthParams, sample_posts
from .render import RenderResult, board_path, job_for, render_job
from .transforms import REPOSTS
from .truth import write_truth
from .vocab import build_vocabulary
from .writers import FORMAT_FLAVOUR, FORMATS, write_metadata

log = logging.getLogger(__name__)
BOARD_ENTRIES = ("metadata", "db_export", "original", "truth", "earlier")


def generate_board(
    out: Path | str,
    posts: int,
    seed: int = 0,
    fmt: str = "danbooru2021",
    image_size: int = 256,
    images: bool = True,
    workers: int = 2,
    overwrite: bool = False,
    earlier: bool = False,
    **overrides,
) -> dict:
    """Generate a synthetic board under ``out`` and return its truth manifest.

    ``overrides`` set :class:`~curation.synth.posts.SynthParams` fields (``duplicate_rate``,
    ``missing_rate``, ...). The same arguments always give the same files. With ``earlier`` an
    earlier dump of the same board goes to ``out/earlier/`` (:mod:`curation.synth.snapshot`).
    """
    if fmt not in FORMATS:
        raise SynthError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if posts < 1:
        raise SynthError(f"--posts must be at least 1, got {posts}")
    if not 32 <= image_size <= 4096:
        raise SynthError(f"--image-size must be between 32 and 4096 px, got {image_size}")
    unknown = set(overrides) - set(SynthParams.__dataclass_fields__)
    if unknown:
        raise SynthError(f"unknown generator parameter(s): {', '.join(sorted(unknown))}")
    if overrides.get("reposts", "classic") not in REPOSTS:
        raise SynthError(f"--reposts {overrides['reposts']!r} is not one of {', '.join(REPOSTS)}")
    out = Path(out)
    existing = [out / e for e in BOARD_ENTRIES if (out / e).exists()]
    if existing and not overwrite:
        raise SynthError(f"{out} already holds a board ({existing[0].name}/); pass --overwrite to replace it")
    for entry in existing:
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    out.mkdir(parents=True, exist_ok=True)

    params = SynthParams(posts=posts, seed=seed, flavour=FORMAT_FLAVOUR[fmt], image_size=image_size, **overrides)
    started = time.perf_counter()
    vocab = build_vocabulary(seed, params.flavour, posts)
    board = sample_posts(vocab, params, see=images, workers=workers)
    log.info("sampled %d posts and %d tags in %.1fs", len(board), len(vocab.tags), time.perf_counter() - started)
    paths: dict[int, str] = {}
    if images:
        for post, result in zip(board, _render_all(out, board, vocab.styles, workers)):  # results come in job order
            _record(post, result)
        paths = {p.post_id: board_path(p.post_id, p.ext) for p in board}
    else:
        _fake_files(board, seed)
    with progress("writing metadata and truth", 2) as advance:
        quirks = write_metadata(fmt, out, board, vocab, seed, params.snapshot)
        advance(1)
        manifest = write_truth(out, fmt, board, vocab, params, images, quirks, paths)
        advance(1)
    if earlier:
        from .snapshot import write_earlier_snapshot

        changes = write_earlier_snapshot(out, fmt, board, vocab, seed, params.snapshot)
        manifest["earlier"] = {
            k: len(v) if isinstance(v, list) and k not in ("new_alias", "new_implication") else v for k, v in changes.items()
        }
    return manifest


def _render_all(out: Path, board: list[Post], styles, workers: int):
    by_id = {p.post_id: p for p in board}
    jobs = [job_for(p, by_id, styles) for p in board]
    with progress("rendering images", len(jobs)) as advance:
        if workers <= 1:
            for job in jobs:
                yield render_job(job, str(out))
                advance(1)
            return
        with worker_pool(workers) as pool:
            for result in pool.map(render_job, jobs, [str(out)] * len(jobs), chunksize=8):
                yield result
                advance(1)


def _record(post: Post, result: RenderResult) -> None:
    if result.post_id != post.post_id or (result.width, result.height) != (post.width, post.height):
        raise SynthError(
            f"post {post.post_id}: rendered {result.width}x{result.height}, metadata says {post.width}x{post.height}"
        )
    post.md5, post.file_size = result.md5, result.file_size


def _fake_files(board: list[Post], seed: int) -> None:
    """Without images: md5s and sizes that look real; exact reposts share their source's md5."""
    rng = np.random.default_rng([seed, 30])
    by_id = {p.post_id: p for p in board}
    for post in board:
        if post.dup_kind == "exact":
            source = by_id[post.dup_of]
            post.md5, post.file_size = source.md5, source.file_size
            continue
        post.md5 = hashlib.md5(f"synth:{seed}:{post.post_id}".encode()).hexdigest()
        post.file_size = 0 if post.bad == "zero_byte" else int(post.width * post.height * rng.uniform(0.15, 1.2))
