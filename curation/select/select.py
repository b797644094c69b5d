"""``curate select``: the configured filters, each one SQL file in ``sql/filters/``, applied in
order to the catalog's live posts, with an audit of how many posts each one dropped.

Writes ``selection(post_id)``, ``selected_tags(tag_id, name, category, count)`` and
``select_audit(step, posts_before, posts_after)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from ..catalog import Catalog
from ..config import SelectConfig
from ..context import Where, stage_context
from ..errors import ConfigError, StageNotRun

FLAGS = (
    ("drop_deleted", "is_deleted", "deleted"),
    ("drop_banned", "is_banned", "banned"),
    ("drop_flagged", "is_flagged", "flagged"),
    ("drop_pending", "is_pending", "pending"),
)


@dataclass(frozen=True)
class AuditRow:
    step: str
    posts_before: int
    posts_after: int


@dataclass(frozen=True)
class SelectReport:
    audit: list[AuditRow]
    posts: int
    tags: int


def _timestamp(value: dt.date | dt.datetime | None) -> dt.datetime | None:
    """A config date or datetime as a naive UTC timestamp, as the catalog stores them."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return dt.datetime(value.year, value.month, value.day)


def read_tag_lists(files: list[Path]) -> list[str]:
    """Tag names from blacklist/deprecation files: one a line; blank lines and # comments skipped."""
    names: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"[select] tag_list_files: {path}: cannot read ({exc.strerror or exc})") from None
        names += [line.strip().lower() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return names


def post_filters(cfg: SelectConfig) -> list[tuple[str, str, dict]]:
    """(audit label, SQL step, parameters) for every configured post filter, in order."""
    steps: list[tuple[str, str, dict]] = [("all live posts", "filters/live_posts", {})]
    if cfg.created_after or cfg.created_before:
        steps.append(
            (
                "created_at range",
                "filters/created_range",
                {"created_after": _timestamp(cfg.created_after), "created_before": _timestamp(cfg.created_before)},
            )
        )
    if cfg.parents != "keep":
        steps.append((f"parents: {cfg.parents}", "filters/parents", {"policy": cfg.parents}))
    for key, column, label in FLAGS:
        if getattr(cfg, key):
            steps.append((f"drop {label}", "filters/flag", {"flag": column}))
    if cfg.ratings:
        steps.append((f"ratings {','.join(cfg.ratings)}", "filters/ratings", {"ratings": list(cfg.ratings)}))
    if cfg.file_exts:
        steps.append(
            (
                f"file types {','.join(cfg.file_exts)}",
                "filters/file_exts",
                {"file_exts": [e.lower().lstrip(".") for e in cfg.file_exts]},
            )
        )
    if cfg.min_width or cfg.min_height:
        steps.append(
            (
                f"at least {cfg.min_width}x{cfg.min_height}",
                "filters/min_size",
                {"min_width": cfg.min_width, "min_height": cfg.min_height},
            )
        )
    if cfg.require_tags:
        steps.append(
            (f"has all of {' '.join(cfg.require_tags)}", "filters/require_tags", {"tags": [t.lower() for t in cfg.require_tags]})
        )
    if cfg.exclude_tags:
        steps.append(
            (f"has none of {' '.join(cfg.exclude_tags)}", "filters/exclude_tags", {"tags": [t.lower() for t in cfg.exclude_tags]})
        )
    if cfg.id_mod_1000:
        steps.append(
            (f"post_id % 1000 in {cfg.id_mod_1000}", "filters/id_mod_1000", {"ranges": [list(r) for r in cfg.id_mod_1000]})
        )
    if cfg.sample_fraction < 1.0:
        steps.append(
            (
                f"sample {cfg.sample_fraction:g} (seed {cfg.sample_seed})",
                "filters/sample",
                {"fraction": cfg.sample_fraction, "seed": cfg.sample_seed},
            )
        )
    return steps


def _apply(cat: Catalog, label: str, step: str, params: dict, audit: list[AuditRow]) -> None:
    before = cat.scalar("SELECT count(*) FROM selection_in")
    cat.run(step, **params)
    after = cat.scalar("SELECT count(*) FROM selection_out")
    cat.con.execute("DROP TABLE selection_in; ALTER TABLE selection_out RENAME TO selection_in;")
    audit.append(AuditRow(label, before, after))


def select(workspace: Where) -> SelectReport:
    """Apply curate.toml's [select] to the catalog; returns the audit."""
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.select
    drop_tags = [t.lower() for t in cfg.drop_tags] + read_tag_lists(cfg.tag_list_files)
    with ctx.staged() as cat:
        total = cat.scalar("SELECT count(*) FROM posts")
        if not total:
            raise StageNotRun(f"{workspace}: the catalog has no posts yet; run `curate ingest {workspace}` first")
        cat.con.execute("CREATE OR REPLACE TEMP TABLE selection_in AS SELECT post_id FROM posts")
        audit: list[AuditRow] = []
        for label, step, params in post_filters(cfg):
            _apply(cat, label, step, params, audit)
        cat.run(
            "filters/label_tags",
            categories=list(cfg.categories),
            drop_tags=drop_tags,
            min_count=cfg.min_tag_count,
            top_n=cfg.top_n_tags,
        )
        if cfg.min_tags_per_post or cfg.max_tags_per_post:
            label = f"label tags per post in [{cfg.min_tags_per_post}, {cfg.max_tags_per_post or 'any'}]"
            _apply(
                cat, label, "filters/tags_per_post", {"min_tags": cfg.min_tags_per_post, "max_tags": cfg.max_tags_per_post}, audit
            )
        cat.run("marts/selection")
        cat.con.execute("CREATE OR REPLACE TABLE select_audit (step VARCHAR, posts_before BIGINT, posts_after BIGINT)")
        cat.con.executemany("INSERT INTO select_audit VALUES (?, ?, ?)", [(a.step, a.posts_before, a.posts_after) for a in audit])
        return SelectReport(audit, cat.scalar("SELECT count(*) FROM selection"), cat.scalar("SELECT count(*) FROM selected_tags"))
