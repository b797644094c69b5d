"""``curate split``: every selected post to train, val or test, leak-free, and the manifests.

Posts that must share a split form a unit: a duplicate group (``dup_groups``), a parent/child
family, and with ``group_by_artist`` an artist's posts. Units are assigned by the configured
scheme (all of them unit-aware):

- ``stratified``: iterative multi-label stratification over the label tags with at least
  ``min_tag_posts`` posts (:mod:`curation.split.stratify`);
- ``time``: units whose oldest post is newer than ``holdout_after`` go to val/test (divided by a
  stable hash in the val:test ratio), the rest to train;
- ``id_mod_1000``: by the unit key's ``post_id % 1000`` ranges, as the WD taggers split.

A unit's key is its smallest post id. Rebuilding with the same settings keeps every post that
had a split where it was; only new units are placed (stratified so as to restore the
proportions). Changing the settings, or ``reassign``, assigns everything afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import Catalog, open_catalog
from ..config import SplitConfig, load_config
from ..context import Where, stage_context
from ..dedupe.unionfind import UnionFind
from ..errors import StageNotRun
from .leakage import LeakageReport, check_leakage, read_split_file
from .stratify import place_new_units, stable_fraction

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
PLAIN_ID_MOD = "plain-id-mod-1000"


@dataclass
class SplitReport:
    scheme: str = ""
    posts: dict[str, int] = field(default_factory=dict)
    units: int = 0
    kept: int = 0  # posts that kept the split of the previous run
    moved: int = 0  # posts whose unit merged units from different splits of the previous run
    coverage: dict[str, float] = field(default_factory=dict)  # split -> share of stratified tags present
    leakage: LeakageReport | None = None
    manifests: Path | None = None


def fingerprint(cfg: SplitConfig) -> str:
    """What an assignment depends on; a rebuild with the same fingerprint keeps old assignments."""
    settings = cfg.model_dump(mode="json", exclude={"manifest_posts"})
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def build_units(
    post_ids: list[int], parents: list[int | None], dup_groups: list[tuple[int, int]], artists: list[tuple[int, int]]
) -> dict[int, int]:
    """post -> unit key (the smallest post id among the posts it must share a split with)."""
    uf = UnionFind(post_ids)
    for post, parent in zip(post_ids, parents):
        if parent is not None:
            uf.union(post, parent)  # siblings meet at their parent even when it is not selected
    first_in_group: dict[int, int] = {}
    for post, gid in dup_groups:
        uf.union(post, first_in_group.setdefault(gid, post))
    first_by_artist: dict[int, int] = {}
    for post, tag in artists:
        uf.union(post, first_by_artist.setdefault(tag, post))
    key: dict[int, int] = {}
    for post in post_ids:
        root = uf.find(post)
        key[root] = min(key.get(root, post), post)
    return {post: key[uf.find(post)] for post in post_ids}


def selected_units(cat: Catalog, group_by_artist: bool) -> tuple[list[tuple], dict[int, int]]:
    """The selected posts (post_id, parent_id, created_at) and post -> unit key."""
    posts = cat.run("marts/split_posts").fetchall()
    dup_groups = cat.rows("SELECT post_id, group_id FROM dup_groups")
    artists = cat.run("marts/split_artists").fetchall() if group_by_artist else []
    return posts, build_units([r[0] for r in posts], [r[1] for r in posts], dup_groups, artists)


def _in_ranges(values: np.ndarray, ranges: list[list[int]]) -> np.ndarray:
    hit = np.zeros(len(values), dtype=bool)
    for lo, hi in ranges:
        hit |= (values >= lo) & (values <= hi)
    return hit


def assign_id_mod(keys: np.ndarray, cfg: SplitConfig) -> np.ndarray:
    """(U,) unit keys -> (U,) split names by ``key % 1000`` ranges ('' where no range covers it)."""
    mod = keys % 1000
    out = np.full(len(keys), "", dtype=object)
    for name, ranges in (("train", cfg.id_mod_train), ("val", cfg.id_mod_val), ("test", cfg.id_mod_test)):
        out[_in_ranges(mod, ranges) & (out == "")] = name
    return out


def assign_time(oldest: np.ndarray, order: np.ndarray, cfg: SplitConfig) -> np.ndarray:
    """(U,) oldest creation time (datetime64) per unit -> split names; the holdout shared val:test."""
    import datetime as dt

    cut = cfg.holdout_after if isinstance(cfg.holdout_after, dt.datetime) else dt.datetime.combine(cfg.holdout_after, dt.time.max)
    held = oldest > np.datetime64(cut.replace(tzinfo=None))
    val_share = cfg.val / (cfg.val + cfg.test) if cfg.val + cfg.test else 1.0
    return np.where(held, np.where(order < val_share, "val", "test"), "train").astype(object)


def label_csr(unit_index: dict[int, int], post_unit: dict[int, int], rows: list[tuple[int, int]]):
    """(indptr, labels, counts, n_labels) per unit from (post, tag) rows."""
    if not rows:
        return np.zeros(len(unit_index) + 1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), 0
    frame = pl.DataFrame(rows, schema={"post": pl.Int64, "tag": pl.Int64}, orient="row")
    tags = frame["tag"].unique().sort()
    frame = frame.with_columns(
        pl.col("post").replace_strict(post_unit).replace_strict(unit_index).alias("unit"),
        pl.col("tag").replace_strict(dict(zip(tags.to_list(), range(len(tags))))).alias("label"),
    )
    grouped = frame.group_by("unit", "label").len().sort("unit", "label")
    units = grouped["unit"].to_numpy()
    indptr = np.searchsorted(units, np.arange(len(unit_index) + 1))
    return indptr, grouped["label"].to_numpy().astype(np.int64), grouped["len"].to_numpy().astype(np.float64), len(tags)


def run_split(workspace: Where, reassign: bool = False) -> SplitReport:
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.split
    fractions = np.array([cfg.train, cfg.val, cfg.test])
    with ctx.staged() as cat:
        if not cat.has_table("selection"):
            raise StageNotRun(f"{workspace}: nothing selected yet; run `curate select {workspace}` first")
        if not cat.scalar("SELECT count(*) FROM dup_edges"):
            log.warning("no duplicate edges (run `curate dedupe` first): only families keep posts together")
        posts, post_unit = selected_units(cat, cfg.group_by_artist)
        post_ids = [r[0] for r in posts]
        keys = np.array(sorted(set(post_unit.values())), dtype=np.int64)
        unit_index = {int(k): i for i, k in enumerate(keys)}
        unit_of_post = np.array([unit_index[post_unit[p]] for p in post_ids], dtype=np.int64)
        sizes = np.bincount(unit_of_post, minlength=len(keys))
        order = stable_fraction(keys, cfg.seed)
        report = SplitReport(scheme=cfg.scheme, units=len(keys))

        previous: dict[int, str] = {}
        if not reassign and cat.has_table("split_meta") and cat.scalar("SELECT fingerprint FROM split_meta") == fingerprint(cfg):
            previous = dict(cat.rows("SELECT post_id, split FROM splits"))
        unit_split = np.full(len(keys), "", dtype=object)
        if previous:  # a unit keeps the split of its smallest previously assigned post
            for post in sorted(previous):
                u = unit_index.get(post_unit.get(post, -1), -1)
                if u >= 0 and unit_split[u] == "":
                    unit_split[u] = previous[post]
            for post, u in zip(post_ids, unit_of_post):
                if post in previous:
                    report.kept += previous[post] == unit_split[u]
                    report.moved += previous[post] != unit_split[u]
        new = unit_split == ""

        if cfg.scheme == "id_mod_1000":
            unit_split[new] = assign_id_mod(keys[new], cfg)
        elif cfg.scheme == "time":
            created = np.array([r[2] for r in posts], dtype="datetime64[us]")
            oldest = np.full(len(keys), np.datetime64("9999-12-31"), dtype="datetime64[us]")
            np.minimum.at(oldest, unit_of_post, created)
            unit_split[new] = assign_time(oldest[new], order[new], cfg)
        else:
            unit_split[new] = _stratify(cat, cfg, post_unit, unit_index, unit_split, sizes, order, fractions)[new]

        split_of = {p: unit_split[u] for p, u in zip(post_ids, unit_of_post) if unit_split[u]}
        frame = pl.DataFrame(
            {"post_id": list(split_of), "split": list(split_of.values()), "unit_key": [post_unit[p] for p in split_of]},
            schema={"post_id": pl.Int64, "split": pl.Utf8, "unit_key": pl.Int64},
        )
        with cat.registered("new_splits", frame.to_arrow()):
            cat.run("marts/splits_write", fingerprint=fingerprint(cfg), scheme=cfg.scheme)
        report.posts = {s: sum(1 for v in split_of.values() if v == s) for s in SPLITS}
        report.leakage = leakage_of(cat, split_of)
        stats = write_manifests(cat, workspace / "out" / "splits", cfg)
        report.coverage = _coverage(stats, cfg.min_tag_posts)
        report.manifests = workspace / "out" / "splits"
    return report


def _stratify(
    cat: Catalog,
    cfg: SplitConfig,
    post_unit: dict[int, int],
    unit_index: dict[int, int],
    unit_split: np.ndarray,
    sizes: np.ndarray,
    order: np.ndarray,
    fractions: np.ndarray,
) -> np.ndarray:
    """Split names for all units; units already named (kept) count as prior placements."""
    rows = cat.run("marts/split_labels", min_posts=cfg.min_tag_posts).fetchall()
    indptr, labels, counts, n_labels = label_csr(unit_index, post_unit, rows)
    kept = np.array([SPLITS.index(s) if s else -1 for s in unit_split], dtype=np.int64)
    chosen = place_new_units(sizes, indptr, labels, counts, fractions, order, kept, n_labels)
    return np.array(SPLITS, dtype=object)[chosen]


def _coverage(stats: pl.DataFrame, min_posts: int) -> dict[str, float]:
    stratified = stats.filter(pl.col("count") >= min_posts)
    if stratified.height == 0:
        return {}
    return {s: round(float((stratified[s] > 0).mean()), 4) for s in SPLITS}


def leakage_of(cat: Catalog, split_of: dict[int, str]) -> LeakageReport:
    edges = cat.rows("SELECT post_a, post_b, kind FROM dup_edges")
    groups = cat.rows("SELECT post_id, group_id FROM dup_groups")
    parents = cat.rows(
        "SELECT post_id, parent_id FROM posts WHERE parent_id IS NOT NULL AND post_id IN (SELECT post_id FROM selection)"
    )
    return check_leakage(split_of, edges, groups, parents)


def check_split(workspace: Path | str, source: str | Path | None = None) -> tuple[str, LeakageReport]:
    """Leakage of the workspace's split (``source`` None), of the plain ``post_id % 1000`` scheme
    (``source`` = PLAIN_ID_MOD, ranges from [split]), or of a split file."""
    workspace = Path(workspace)
    cfg = load_config(workspace).split
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("selection"):
            raise StageNotRun(f"{workspace}: nothing selected yet; run `curate select {workspace}` first")
        if source is None:
            if not cat.has_table("splits"):
                raise StageNotRun(f"{workspace}: no split yet; run `curate split {workspace}` first")
            split_of = dict(cat.rows("SELECT post_id, split FROM splits"))
            name = "the workspace's split"
        elif str(source) == PLAIN_ID_MOD:
            ids = np.array([r[0] for r in cat.rows("SELECT post_id FROM selection")], dtype=np.int64)
            split_of = {int(p): s for p, s in zip(ids, assign_id_mod(ids, cfg)) if s}
            name = "plain post_id % 1000 (not group-aware)"
        else:
            split_of = read_split_file(Path(source))
            name = str(source)
        return name, leakage_of(cat, split_of)


def write_manifests(cat: Catalog, folder: Path, cfg: SplitConfig) -> pl.DataFrame:
    """out/splits/: <split>.parquet and <split>.txt per split, selected_tags.csv, tag_stats.parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    has_images = cat.scalar("SELECT count(*) FROM images")
    if not has_images:
        log.warning("no inspected images (run `curate images` first): only selected_tags.csv and tag_stats are written")
    cat.run("marts/post_labels")
    for split in SPLITS:
        if has_images:
            manifest = cat.frame("marts/split_manifest", split=split, all_posts=cfg.manifest_posts == "all")
            manifest.write_parquet(folder / f"{split}.parquet")
            (folder / f"{split}.txt").write_text("".join(f"{p}\n" for p in manifest["path"].to_list()))
    cat.frame("marts/selected_tags_csv").write_csv(folder / "selected_tags.csv")
    stats = cat.frame("marts/split_tag_stats")
    stats.write_parquet(folder / "tag_stats.parquet")
    return stats
