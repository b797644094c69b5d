"""``curate dedupe``: duplicate edges from file hashes and embeddings, union-find groups, representatives.

Writes ``dup_edges(post_a, post_b, kind, distance, similarity)`` (hash edges carry a Hamming
``distance``, embedding edges of kind ``semantic`` (or ``variant`` inside a parent/child
family) a cosine ``similarity``; a pair can have one of each), ``dup_groups(post_id, group_id,
is_representative)`` (posts in groups of two or more), ``WORKSPACE/out/duplicates.parquet``
(``post_id, group_id, is_representative, kinds``), contact sheets of the largest groups in
``WORKSPACE/out/duplicates/``, and with ``merge_tags`` ``dup_group_tags(post_id, tag_id,
members_with_tag)``: the union of a group's tags credited to its representative.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import open_catalog, staged_catalog
from ..config import DedupeConfig, load_config
from ..embed import configured_embedder_id, load_vectors
from ..errors import CurationError
from .edges import HashTable, Radii, find_edges
from .semantic import fit_whitening, semantic_pairs, whiten
from .sheets import contact_sheet
from .unionfind import UnionFind

log = logging.getLogger(__name__)
DUPLICATE_KINDS = ("exact", "pixels", "perceptual", "mirror", "background", "semantic")
EDGE_SCHEMA = {"post_a": pl.Int64, "post_b": pl.Int64, "kind": pl.Utf8, "distance": pl.Int32, "similarity": pl.Float32}


def counted_kinds(cfg: DedupeConfig) -> set[str]:
    """Edge kinds that put two posts in one group."""
    return set(DUPLICATE_KINDS) | ({"variant"} if cfg.variants_are_duplicates else set())


@dataclass
class DedupeReport:
    posts: int = 0
    edges: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    grouped_posts: int = 0


def pick_representative(members: list[int], info: dict[int, tuple], rule: str) -> int:
    """The post that stands for its group. info: post_id -> (pixels, score, tags, parent_id)."""
    largest = max(members, key=lambda p: (info[p][0], -p))
    if rule == "largest":
        return largest
    if rule == "score":
        return max(members, key=lambda p: (info[p][1], info[p][0], -p))
    if rule == "most_tags":
        return max(members, key=lambda p: (info[p][2], info[p][0], -p))
    parents = [p for p in members if any(info[q][3] == p for q in members)]  # rule == "parent"
    return max(parents, key=lambda p: (info[p][0], -p)) if parents else largest


def group_posts(post_ids: list[int], edges: pl.DataFrame, cfg: DedupeConfig,
                info: dict[int, tuple]) -> dict[int, tuple[int, bool]]:
    """post_id -> (group_id, is_representative) for posts in groups of two or more; the group
    id is its representative's post id. ``edges``: rows of EDGE_SCHEMA."""
    uf = UnionFind(post_ids)
    for a, b in edges.filter(pl.col("kind").is_in(sorted(counted_kinds(cfg)))).select("post_a", "post_b").iter_rows():
        uf.union(a, b)
    out: dict[int, tuple[int, bool]] = {}
    for members in uf.groups().values():
        if len(members) < 2:
            continue
        rep = pick_representative(members, info, cfg.representative)
        out.update({m: (rep, m == rep) for m in members})
    return out


def _draw_sheets(workspace: Path, groups: dict[int, tuple[int, bool]], edges: pl.DataFrame, count: int) -> None:
    """Contact sheets of the ``count`` largest groups in out/duplicates/ (old sheets removed)."""
    folder = workspace / "out" / "duplicates"
    for old in folder.glob("group_*.png"):
        old.unlink()
    if not count or not groups:
        return
    members: dict[int, list[int]] = {}
    for post, (gid, _) in groups.items():
        members.setdefault(gid, []).append(post)
    with open_catalog(workspace, read_only=True) as cat:
        paths = dict(cat.rows("SELECT post_id, path FROM images WHERE post_id IN (SELECT post_id FROM dup_groups)"))
    how = {}
    for a, b, kind, dist, sim in edges.iter_rows():
        label = f"{kind} {dist}" if sim is None else f"{kind} {sim:.3f}"
        how.setdefault(a, label)
        how.setdefault(b, label)
    for gid, posts in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:count]:
        ordered = [gid] + [p for p in sorted(posts) if p != gid]
        contact_sheet([(p, paths.get(p), "representative" if p == gid else how.get(p, "")) for p in ordered],
                      folder / f"group_{gid}.png")


def run_dedupe(workspace: Path | str) -> DedupeReport:
    workspace = Path(workspace)
    config = load_config(workspace)
    cfg = config.dedupe
    with staged_catalog(workspace, memory_limit=config.runner.duckdb_memory_limit) as cat:
        if not cat.has_table("selection") or not cat.scalar("SELECT count(*) FROM images"):
            raise CurationError(f"{workspace}: no inspected images yet; run `curate images {workspace}` first")
        rows = cat.run("marts/dedupe_inputs").fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        selected = set(ids.tolist())
        parent = [r[8] if r[8] in selected else None for r in rows]
        table = HashTable(
            post_id=ids,
            file_md5=np.array([r[1] for r in rows], dtype=object),
            pixel_sha256=np.array([r[2] for r in rows], dtype=object),
            phash=np.array([r[3] or 0 for r in rows], dtype=np.uint64),
            dhash=np.array([r[4] or 0 for r in rows], dtype=np.uint64),
            phash_mirror=np.array([r[5] or 0 for r in rows], dtype=np.uint64),
            dhash_mirror=np.array([r[6] or 0 for r in rows], dtype=np.uint64),
            information=np.array([r[7] or 0.0 for r in rows], dtype=np.float32),
            family=np.array([p if p is not None else pid for pid, p in zip(ids.tolist(), parent)], dtype=np.int64),
            bg_phash=np.array([r[12] or 0 for r in rows], dtype=np.uint64),
            bg_dhash=np.array([r[13] or 0 for r in rows], dtype=np.uint64),
            has_alpha=np.array([bool(r[14]) for r in rows], dtype=bool),
            bg_information=np.array([r[15] or 0.0 for r in rows], dtype=np.float32),
            bg_black_phash=np.array([r[16] or 0 for r in rows], dtype=np.uint64),
            bg_black_dhash=np.array([r[17] or 0 for r in rows], dtype=np.uint64),
        )
        radii = Radii(phash=cfg.phash_radius, dhash=cfg.dhash_radius, close_phash=cfg.close_phash_radius,
                      close_dhash=cfg.close_dhash_radius, mirror=cfg.mirror_radius, background=cfg.background_radius,
                      background_dhash=cfg.background_dhash_radius, opaque_background=cfg.opaque_background_radius)
        hash_edges = find_edges(table, radii, cfg.min_information)
        rows_out = [(a, b, kind, dist, None) for (a, b), (kind, dist) in hash_edges.items()]
        if cfg.semantic:
            rows_out += semantic_edges(workspace, cat, config, table)
        edges = pl.DataFrame(rows_out, schema=EDGE_SCHEMA, orient="row").sort("post_a", "post_b", "kind")
        info = {r[0]: (r[9], r[10], r[11], p) for r, p in zip(rows, parent)}
        groups = group_posts(ids.tolist(), edges, cfg, info)
        group_frame = pl.DataFrame(
            [(pid, gid, rep) for pid, (gid, rep) in sorted(groups.items())],
            schema={"post_id": pl.Int64, "group_id": pl.Int64, "is_representative": pl.Boolean}, orient="row")
        cat.con.register("new_dup_edges", edges.to_arrow())
        cat.con.register("new_dup_groups", group_frame.to_arrow())
        cat.run("marts/dup_tables")
        if cfg.merge_tags:
            cat.run("marts/dup_group_tags")
        else:
            cat.con.execute("DROP TABLE IF EXISTS dup_group_tags")
        cat.con.unregister("new_dup_edges")
        cat.con.unregister("new_dup_groups")
    kinds: dict[int, set[str]] = {}
    for a, b, kind in edges.select("post_a", "post_b", "kind").iter_rows():
        kinds.setdefault(a, set()).add(kind)
        kinds.setdefault(b, set()).add(kind)
    out = workspace / "out"
    out.mkdir(exist_ok=True)
    _draw_sheets(workspace, groups, edges, cfg.contact_sheets)
    group_frame.with_columns(
        pl.col("post_id").map_elements(lambda p: sorted(kinds.get(p, ())), return_dtype=pl.List(pl.Utf8)).alias("kinds")
    ).write_parquet(out / "duplicates.parquet")
    counts = dict(edges.group_by("kind").len().iter_rows())
    return DedupeReport(posts=len(rows), edges=counts, groups=len({g for g, _ in groups.values()}), grouped_posts=len(groups))


def semantic_edges(workspace: Path, cat, config, t: HashTable) -> list[tuple]:
    """Edge rows (post_a, post_b, kind, None, similarity) for pairs whose embeddings are alike;
    ``variant`` inside a parent/child family. With at least 2 x ``whiten_dims`` vectors they are
    PCA-whitened first and compared against ``whitened_threshold``, else raw against
    ``semantic_threshold``. Flat images (below ``min_information``) get none: different flat
    drawings embed alike."""
    cfg = config.dedupe
    embedder = configured_embedder_id(config.embed)
    has, vectors = load_vectors(workspace, cat, embedder, t.file_md5.tolist())
    if not has.any():
        raise CurationError(f"{workspace}: no embeddings from {config.embed.model} yet; run `curate embed {workspace}` "
                            "first, or set [dedupe] semantic = false")
    if (~has).any():
        log.warning("%d of %d posts have no embedding from %s (run `curate embed`); they get hash edges only",
                    int((~has).sum()), len(has), embedder)
    where = np.flatnonzero(has)
    usable = t.information[where] >= cfg.min_information
    where, vectors = where[usable], vectors[usable]
    threshold = cfg.semantic_threshold
    if cfg.whiten_dims and len(vectors) >= 2 * cfg.whiten_dims:
        vectors = whiten(vectors, *fit_whitening(vectors, cfg.whiten_dims))
        threshold = cfg.whitened_threshold
        log.info("embeddings whitened to %d dims; threshold %.3f", vectors.shape[1], threshold)
    i, j, sim = semantic_pairs(vectors, threshold)
    a, b = where[i], where[j]
    out = []
    for x, y, s in zip(a.tolist(), b.tolist(), sim.tolist()):
        kind = "variant" if t.family[x] == t.family[y] and t.file_md5[x] != t.file_md5[y] else "semantic"
        pa, pb = sorted((int(t.post_id[x]), int(t.post_id[y])))
        out.append((pa, pb, kind, None, round(s, 4)))
    return out
