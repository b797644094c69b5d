"""``curate images``: find, validate and hash the file of every selected post.

Files are decoded and hashed in a process pool; results go to the ``images`` table (one row a
post, with a status and a reason) and ``image_hashes`` (one row a file md5). Posts already
inspected with the same md5 are not looked at again, and a file whose md5 was hashed before
is only checked, not decoded again.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
from PIL import ImageColor

from ..catalog import migrate_catalog, open_catalog, sql_text
from ..config import ImagesConfig
from ..context import StageContext, Where, stage_context
from ..errors import ConfigError, StageNotRun
from ..processes import worker_pool
from ..progress import progress
from .hashing import HASH_VERSION, REGIONS, thumbnail_hashes
from .inspect import Inspection, inspect_file

RESULT_SCHEMA = {
    "post_id": pl.Int64,
    "md5": pl.Utf8,
    "path": pl.Utf8,
    "status": pl.Utf8,
    "width": pl.Int32,
    "height": pl.Int32,
    "has_alpha": pl.Boolean,
    "frames": pl.Int32,
    "error": pl.Utf8,
    "file_md5": pl.Utf8,
    "format": pl.Utf8,
    "mode": pl.Utf8,
    "pixel_sha256": pl.Utf8,
    "phash": pl.UInt64,
    "dhash": pl.UInt64,
    "phash_mirror": pl.UInt64,
    "dhash_mirror": pl.UInt64,
    "information": pl.Float32,
    "bg_phash": pl.UInt64,
    "bg_dhash": pl.UInt64,
    "bg_information": pl.Float32,
    "bg_black_phash": pl.UInt64,
    "bg_black_dhash": pl.UInt64,
    "thumb": pl.Binary,
    "thumb_alpha": pl.Binary,
    "thumb_width": pl.Int16,
    "thumb_phash": pl.UInt64,
    "unpadded_phash": pl.UInt64,
    "turned_phash_90": pl.UInt64,
    "turned_phash_180": pl.UInt64,
    "turned_phash_270": pl.UInt64,
    "region_phashes": pl.Binary,
    "keypoint_xy": pl.Binary,
    "keypoints": pl.Binary,
    "hash_version": pl.Int32,
}


@dataclass
class ImagesReport:
    inspected: int = 0
    unchanged: int = 0
    statuses: Counter = field(default_factory=Counter)  # over all selected posts


MD5_TEXT = re.compile(r"[0-9a-f]{32}")
EXT_TEXT = re.compile(r"[a-z0-9]{1,8}")


def candidate_paths(post_id: int, md5: str | None, ext: str | None, roots: list[Path], cfg: ImagesConfig) -> list[Path]:
    """Where a post's file may be, in order, under each image root. Dump fields become part of a
    path only when they are what they claim (md5: 32 hex characters; ext: 1-8 letters or
    digits), and a path that resolves outside its root is never offered."""
    ext = (ext or "").lower()
    md5 = (md5 or "").lower()
    if not EXT_TEXT.fullmatch(ext):
        return []
    md5_ok = bool(MD5_TEXT.fullmatch(md5))
    names: list[str] = []
    if cfg.layout == "board":
        names = [f"{post_id % 1000:04d}/{post_id}.{ext}"]
    elif cfg.layout == "flat_md5":
        names = [f"{md5}.{ext}"] if md5_ok else []
    elif cfg.layout == "flat_id":
        names = [f"{post_id}.{ext}"]
    elif md5_ok or "md5" not in cfg.pattern:
        names = [cfg.pattern.format(id=post_id, post_id=post_id, md5=md5, ext=ext, bucket=f"{post_id % 1000:04d}")]
    out = []
    for root in roots:
        inside = root.resolve()
        out += [root / name for name in names if (root / name).resolve().is_relative_to(inside)]
    return out


def locate(post_id: int, md5: str | None, ext: str | None, roots: list[Path], cfg: ImagesConfig) -> tuple[Path | None, str]:
    """The post's file, or None and why not."""
    for path in candidate_paths(post_id, md5, ext, roots, cfg):
        if path.is_file():
            return path, ""
    if not EXT_TEXT.fullmatch((ext or "").lower()):
        return None, f"the dump's file_ext {ext!r} is not 1-8 letters or digits"
    if cfg.layout in ("flat_md5", "pattern") and not MD5_TEXT.fullmatch((md5 or "").lower()):
        return None, f"the dump's md5 {md5!r} is not 32 hex characters"
    return None, "no file at the expected path"


def _job(args: tuple) -> Inspection:
    """Inspect one file; with ``known`` (a previous inspection of the same md5), only check
    that the bytes are that file and reuse it."""
    path, max_pixels, background, jpeg_draft, known, why_missing = args
    if path is None:
        return Inspection("missing", why_missing)
    if known is not None:
        with open(path, "rb") as f:
            digest = hashlib.md5(f.read()).hexdigest()
        if digest == known.file_md5:
            return known
    return inspect_file(path, max_pixels, background, jpeg_draft)


def background_rgb(cfg: ImagesConfig) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(cfg.alpha_background)[:3]
    except ValueError:
        raise ConfigError(
            f"[images] alpha_background = {cfg.alpha_background!r}: not a colour (try '#ffffff' or 'white')"
        ) from None


def apply_policy(status: str, inspection: Inspection, cfg: ImagesConfig) -> str:
    """Files that decode but the config leaves out get a status saying why."""
    if status != "ok":
        return status
    if cfg.drop_animated and (inspection.frames or 1) > 1:
        return "animated"
    if cfg.drop_transparent and inspection.has_alpha:
        return "transparent"
    return status


def _validate_pattern(cfg: ImagesConfig) -> None:
    if cfg.layout != "pattern":
        return
    try:
        cfg.pattern.format(id=1, post_id=1, md5="0" * 32, ext="jpg", bucket="0001")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"[images] pattern = {cfg.pattern!r}: {exc!r} (fields: id, md5, ext, bucket)") from None
    if not cfg.pattern:
        raise ConfigError('[images] layout = "pattern" needs a pattern, e.g. "{md5}.{ext}"')


@dataclass
class ImagesPlan:
    """What ``curate images`` has to look at: one job per new or changed selected post."""

    todo: list[tuple[int, str | None, str | None]]  # (post_id, board md5, path found or None)
    jobs: list[tuple]  # arguments of _job, in the same order
    unchanged: int = 0


def plan_images(workspace: Where) -> ImagesPlan:
    """Locate the files of selected posts that are new or changed since the last run (read-only)."""
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.images
    _validate_pattern(cfg)
    background = background_rgb(cfg)
    roots = [s.images for s in config.sources if s.images is not None]
    if not roots:
        raise ConfigError(f"{workspace / 'curate.toml'}: no [[sources]] entry has an `images` folder")
    for root in roots:
        if not root.is_dir():
            raise ConfigError(f"{workspace / 'curate.toml'}: [[sources]] images = {str(root)!r}: no such folder")
    migrate_catalog(workspace)  # planning reads newer columns; a read-only connection cannot add them
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("selection"):
            raise StageNotRun(f"{workspace}: no selection yet; run `curate select {workspace}` first")
        todo = cat.run("marts/images_todo", hash_version=HASH_VERSION).fetchall()
        unchanged = cat.scalar("SELECT count(*) FROM selection") - len(todo)
        known = _known_inspections(cat)
    found = [locate(pid, md5, ext, roots, cfg) for pid, md5, ext in todo]
    return ImagesPlan(
        todo=[(pid, md5, str(p) if p else None) for (pid, md5, _), (p, _) in zip(todo, found)],
        jobs=[
            (str(p) if p else None, cfg.max_pixels, background, cfg.jpeg_draft, known.get(md5), why)
            for (p, why), (_, md5, _) in zip(found, todo)
        ],
        unchanged=unchanged,
    )


def shard_plan(plan: ImagesPlan, shards: int) -> list[ImagesPlan]:
    """Split a plan into ``shards`` parts by file md5, for workers on other processes or machines."""
    parts = [ImagesPlan([], []) for _ in range(shards)]
    for item, job in zip(plan.todo, plan.jobs):
        k = int(item[1], 16) % shards if item[1] and all(c in "0123456789abcdef" for c in item[1].lower()) else item[0] % shards
        parts[k].todo.append(item)
        parts[k].jobs.append(job)
    return [p for p in parts if p.todo]


def inspect_plan(plan: ImagesPlan, cfg: ImagesConfig, workers: int | None = None) -> list[dict]:
    """Decode and hash every job (in a process pool with more than one worker): result rows."""
    workers = cfg.workers if workers is None else workers
    rows = []
    with progress("inspecting images", len(plan.jobs)) as advance:
        if workers > 1 and len(plan.jobs) > 8:
            with worker_pool(workers) as pool:
                for (pid, md5, path), res in zip(plan.todo, pool.map(_job, plan.jobs, chunksize=16)):
                    rows.append(_row(pid, md5, path, res, cfg))
                    advance(1)
        else:
            for (pid, md5, path), job in zip(plan.todo, plan.jobs):
                rows.append(_row(pid, md5, path, _job(job), cfg))
                advance(1)
    return rows


def commit_images(workspace: Where, rows: list[dict], unchanged: int = 0) -> ImagesReport:
    """Write inspection rows to ``images`` and ``image_hashes`` (all or nothing): only the rows of
    the files inspected now are written, the catalog's others are left where they are."""
    ctx = stage_context(workspace)
    report = ImagesReport(inspected=len(rows), unchanged=unchanged)
    with ctx.staged(upserts={"images": "post_id", "image_hashes": "md5"}) as cat:
        if rows:
            with cat.registered("image_results", pl.DataFrame(rows, schema=RESULT_SCHEMA).to_arrow()):
                cat.run("marts/images_upsert")
        cat.run("marts/images_unselected")
        fill_thumbnail_hashes(cat)
    with ctx.read() as cat:
        report.statuses = Counter(
            dict(cat.rows("SELECT status, count(*) FROM images WHERE post_id IN (SELECT post_id FROM selection) GROUP BY status"))
        )
    return report


def fill_thumbnail_hashes(cat, chunk: int = 20_000) -> int:
    """Compute the hashes that come from the thumbnail alone (:func:`~curation.images.hashing.thumbnail_hashes`)
    for every hashed file that lacks one (hashed before the column existed) from its stored
    thumbnail: no file is decoded again. Returns how many files were filled."""
    layout = {"region_bytes": 8 * len(REGIONS)}
    todo = cat.scalar(f"SELECT count(*) FROM ({sql_text('marts/thumb_hashes_todo').rstrip().rstrip(';')})", layout)
    if not todo:
        return 0
    md5s, codes = [], []
    with progress("hashing stored thumbnails", todo) as advance:
        cursor = cat.run("marts/thumb_hashes_todo", **layout)
        while batch := cursor.fetchmany(chunk):
            for md5, thumb, width in batch:
                md5s.append(md5)
                codes.append(thumbnail_hashes(np.frombuffer(thumb, dtype=np.uint8).reshape(-1, width)))
            advance(len(batch))
    if not md5s:
        return 0
    columns = {
        name: pa.array([c[name] for c in codes], pa.binary() if isinstance(codes[0][name], bytes) else pa.uint64())
        for name in codes[0]
    }
    with cat.registered("thumb_hashes_filled", pa.table({"md5": md5s, **columns})):
        cat.run("marts/thumb_hashes_fill")
    return len(md5s)


def run_images(workspace: Path | str | StageContext) -> ImagesReport:
    """Inspect the files of the selected posts that are new or changed since the last run."""
    ctx = stage_context(workspace)  # read once, passed down
    plan = plan_images(ctx)
    rows = inspect_plan(plan, ctx.config.images)
    return commit_images(ctx, rows, plan.unchanged)


def _known_inspections(cat) -> dict[str, Inspection]:
    """Decoded and hashed files by md5, from earlier runs: a repost of one is not decoded again."""
    known = {}
    cursor = cat.run("marts/known_hashes", hash_version=HASH_VERSION)
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        fields = dict(zip(names, row))
        known[fields["file_md5"]] = Inspection("ok", **fields)
    return known


def _row(post_id: int, md5: str | None, path: str | None, res: Inspection, cfg: ImagesConfig) -> dict:
    """One inspection as a row of RESULT_SCHEMA, by column name."""
    found = res.as_row()
    row = {name: found.get(name) for name in RESULT_SCHEMA}
    row.update(post_id=post_id, md5=md5, path=str(path) if path else None, status=apply_policy(res.status, res, cfg),
               error=found["error"] or None, hash_version=HASH_VERSION)  # fmt: skip
    return row
