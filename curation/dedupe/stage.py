"""``curate dedupe``: duplicate edges from file hashes and embeddings, union-find groups, representatives.

Writes ``dup_edges(post_a, post_b, kind, distance, similarity)`` (hash edges carry a Hamming
``distance``, embedding edges of kind ``semantic`` (or ``variant`` inside a parent/child
family) a cosine ``similarity``, pixel checks (``aligned``, ``composite``) a correlation; a
pair can have one of each), ``dup_groups(post_id, group_id,
is_representative)`` (posts in groups of two or more), ``WORKSPACE/out/duplicates.parquet``
(``post_id, group_id, is_representative, kinds``), contact sheets of the largest groups in
``WORKSPACE/out/duplicates/``, and with ``merge_tags`` ``dup_group_tags(post_id, tag_id,
members_with_tag)``: the union of a group's tags credited to its representative.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import polars as pl
import pyarrow as pa

from ..catalog import open_catalog
from ..config import DedupeConfig
from ..context import Where, stage_context
from ..decisions import duplicate_decisions
from ..embed import load_vectors, plain_embedder_id
from ..errors import StageNotRun
from ..images.keypoints import Keypoints
from ..images.stage import background_rgb
from ..processes import LazyPool, bounded_map
from ..progress import progress
from . import composite as composite_module
from . import keypoints as keypoint_check
from .align import AlignLimits, Thumb, agreement, aligned_pairs, same_aspect, turned_scores
from .bars import largest_rectangle
from .checks import PixelChecks, check_id
from .composite import CompositeLimits, Copies, CopyKeys, background_grey, candidate_copies, composite_scores, copy_keys
from .edges import (
    HashTable,
    Radii,
    alignment_candidates,
    find_edges,
    hash_near_misses,
    near_flat_candidates,
    region_candidates,
    region_columns,
    turned_candidates,
)
from .keypoints import UNJUDGED, KeypointLimits, PairFile, check_batch, decode, decode_miss
from .precision import shipped_calibration
from .semantic import build_index, fit_whitening, flat_knn, knn, semantic_pairs, strongest_per_item, whiten
from .sheets import contact_sheet, pair_sheet
from .unionfind import UnionFind

log = logging.getLogger(__name__)
DUPLICATE_KINDS = (
    "exact", "pixels", "perceptual", "mirror", "background", "composite", "semantic", "aligned", "rotated",
    "resized", "cropped", "edited", "derivative",
)  # fmt: skip
KEYPOINT_BATCH = 256  # candidate pairs a worker checks by keypoints at a time
ALIGN_CHUNK = 20_000  # candidate pairs whose thumbnails are read at once
NO_KEYPOINTS = Keypoints.none()
ALIGN_BATCH = 1_000  # candidate pairs a worker aligns at a time (with the thumbnails they need)
COMPOSITE_CHUNK = 20_000  # opaque thumbnails of one size read at once
NEAR_FLAT_STD = 1.0  # grey spread a near-flat thumbnail needs to be compared at all
HASH_ALIGN_STD = 6.0  # grey spread the smaller picture of a hash-proposed pair needs for the sliding search
SHEET_PAIRS = 3  # pairs a kind's contact sheet shows on each of its two rows
NEAR_MISSES = 50  # refused pairs kept for the sheets, per source, closest first
PLAIN_NEIGHBOURS = 1  # nearest embeddings before whitening each post is also checked with by keypoints
CENSORED_NEIGHBOURS = 16  # nearest embeddings (of the same aspect) a post showing a black bar is checked with
MIN_BAR_SHARE = 0.02  # of a thumbnail: the largest black rectangle a post needs to count as showing a bar
EDGE_SCHEMA = {"post_a": pl.Int64, "post_b": pl.Int64, "kind": pl.Utf8, "distance": pl.Int32, "similarity": pl.Float32}


def counted_kinds(cfg: DedupeConfig) -> set[str]:
    """Edge kinds that put two posts in one group."""
    kinds = set(DUPLICATE_KINDS) - (set() if cfg.derivatives_are_duplicates else {"derivative"})
    return kinds | ({"variant"} if cfg.variants_are_duplicates else set())


@dataclass
class DedupeReport:
    posts: int = 0
    edges: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    grouped_posts: int = 0
    since_last: dict[str, int] = field(default_factory=dict)  # new_groups, gone_groups against the last run
    seconds: dict[str, float] = field(default_factory=dict)  # wall time by step, in the order they ran


class StepClock:
    """Wall time by named step: ``with clock("hash search"): ...``; a step entered twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started

    def summary(self) -> str:
        return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.seconds.items())


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


def group_posts(
    post_ids: list[int],
    edges: pl.DataFrame,
    cfg: DedupeConfig,
    info: dict[int, tuple],
    apart: set[tuple[int, int]] = frozenset(),
    chosen: set[int] = frozenset(),
) -> dict[int, tuple[int, bool]]:
    """post_id -> (group_id, is_representative) for posts in groups of two or more; the group
    id is its representative's post id. ``edges``: rows of EDGE_SCHEMA; with a
    ``precision_estimate`` column, those below ``[dedupe] min_precision`` join nothing.

    Moderators' verdicts: ``apart`` holds (post, other) pairs judged not duplicates; their edge
    is dropped, and when other edges still join them, every edge of ``post`` goes (it leaves the
    group). A post in ``chosen`` represents its group."""
    counted = edges.filter(pl.col("kind").is_in(sorted(counted_kinds(cfg))))
    if "precision_estimate" in counted.columns and cfg.min_precision > 0:
        counted = counted.filter(pl.col("precision_estimate") >= cfg.min_precision)
    counted = counted.select("post_a", "post_b").iter_rows()
    pairs = [(a, b) for a, b in counted if (a, b) not in apart and (b, a) not in apart]
    for _ in range(len(apart) + 1):
        uf = UnionFind(post_ids)
        for a, b in pairs:
            uf.union(a, b)
        joined = [(a, b) for a, b in apart if a in uf.parent and b in uf.parent and uf.find(a) == uf.find(b)]
        if not joined:
            break
        leaving = {post for post, _ in joined}
        pairs = [(a, b) for a, b in pairs if a not in leaving and b not in leaving]
    out: dict[int, tuple[int, bool]] = {}
    for members in uf.groups().values():
        if len(members) < 2:
            continue
        picked = sorted(set(members) & set(chosen))
        rep = picked[0] if picked else pick_representative(members, info, cfg.representative)
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
    for a, b, kind, dist, sim, estimate in edges.select(*EDGE_SCHEMA, "precision_estimate").iter_rows():
        label = (f"{kind} {dist}" if sim is None else f"{kind} {sim:.3f}") + f", p {estimate:.2f}"
        how.setdefault(a, label)
        how.setdefault(b, label)
    for gid, posts in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:count]:
        ordered = [gid] + [p for p in sorted(posts) if p != gid]
        contact_sheet(
            [(p, paths.get(p), "representative" if p == gid else how.get(p, "")) for p in ordered], folder / f"group_{gid}.png"
        )


def run_dedupe(workspace: Where) -> DedupeReport:
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.dedupe
    clock = StepClock()
    with ctx.staged() as cat, LazyPool(cfg.workers) as workers:
        if not cat.has_table("selection") or not cat.scalar("SELECT count(*) FROM images"):
            raise StageNotRun(f"{workspace}: no inspected images yet; run `curate images {workspace}` first")
        inputs = cat.frame("marts/dedupe_inputs")  # one row per post, columns by name

        def column(name: str, dtype, fill=0) -> np.ndarray:
            return inputs[name].fill_null(fill).to_numpy().astype(dtype)

        ids = column("post_id", np.int64)
        selected = set(ids.tolist())
        parent = [p if p in selected else None for p in inputs["parent_id"].to_list()]
        table = HashTable(
            post_id=ids,
            file_md5=np.array(inputs["file_md5"].to_list(), dtype=object),
            pixel_sha256=np.array(inputs["pixel_sha256"].to_list(), dtype=object),
            phash=column("phash", np.uint64),
            dhash=column("dhash", np.uint64),
            phash_mirror=column("phash_mirror", np.uint64),
            dhash_mirror=column("dhash_mirror", np.uint64),
            information=column("information", np.float32, 0.0),
            family=np.array([p if p is not None else pid for pid, p in zip(ids.tolist(), parent)], dtype=np.int64),
            bg_phash=column("bg_phash", np.uint64),
            bg_dhash=column("bg_dhash", np.uint64),
            has_alpha=column("has_alpha", bool, False),
            bg_information=column("bg_information", np.float32, 0.0),
            bg_black_phash=column("bg_black_phash", np.uint64),
            bg_black_dhash=column("bg_black_dhash", np.uint64),
            width=column("width", np.int64),
            height=column("height", np.int64),
            thumb_phash=column("thumb_phash", np.uint64),
            unpadded_phash=column("unpadded_phash", np.uint64),
            turned_phash=np.stack([column(f"turned_phash_{d}", np.uint64) for d in (90, 180, 270)], axis=1),
            region_phash=region_columns(inputs["region_phashes"].to_list()),
        )
        radii = Radii.from_config(cfg)
        thumbs = Thumbnails(cat, table, workers)
        with clock("hash search"):
            hash_edges = confirm_mirrors(thumbs, table, find_edges(table, radii, cfg.min_information), cfg.mirror_threshold)
            rows_out = [(a, b, kind, dist, None) for (a, b), (kind, dist) in hash_edges.items()]
        with clock("near-flat pairs"):
            rows_out += near_flat_edges(thumbs, table, cfg, {(a, b) for a, b in hash_edges})
        if cfg.composite:
            with clock("composites"):
                rows_out += composite_edges(
                    thumbs, table, cfg, {(a, b) for a, b, *_ in rows_out}, background_grey(background_rgb(config.images))
                )
        if cfg.align:
            with clock("hash pairs aligned"):
                rows_out += hash_aligned_edges(thumbs, table, cfg, {(a, b) for a, b, *_ in rows_out})
        if cfg.rotations:
            with clock("turned pairs"):
                rows_out += turned_edges(thumbs, table, cfg, {(a, b) for a, b, *_ in rows_out})
        with clock("near misses"):
            near = (
                [(*_posts(table, i, j), "perceptual", d, None) for i, j, d in hash_near_misses(table, radii, cfg.min_information)]
                if cfg.contact_sheets
                else []
            )
        if cfg.semantic:
            with clock("embedding search"):
                barred = barred_rows(thumbs, table) if cfg.keypoints else None
                semantic_rows, candidates, neighbours, below = semantic_edges(workspace, cat, config, table, barred)
                rows_out += semantic_rows
                near += below
            if cfg.align:
                with clock("embedding pairs aligned"):
                    rows_out += aligned_edges(thumbs, table, candidates, [r for r in rows_out if r[3] is not None], cfg)
            if cfg.keypoints:
                with clock("keypoints"):
                    background = background_rgb(config.images)
                    regions = [(i, j) for i, j, _ in region_candidates(table, cfg.min_information, cfg.region_radius)]
                    pairs = candidates + neighbours + family_pairs(table) + regions
                    matched, missed = keypoint_edges(thumbs, table, pairs, rows_out, cfg, background)
                    rows_out += matched
                    near += missed
        thumbs.checks.write()
        with clock("grouping and tables"):
            edges = pl.DataFrame(rows_out, schema=EDGE_SCHEMA, orient="row").sort("post_a", "post_b", "kind")
            edges = edges.with_columns(shipped_calibration().of_edges(edges))
            info = {
                post: (pixels, score, tags, p)
                for post, pixels, score, tags, p in zip(
                    ids.tolist(), inputs["pixels"].to_list(), inputs["score"].to_list(), inputs["tags"].to_list(), parent
                )
            }
            apart, chosen = duplicate_decisions(workspace)
            groups = group_posts(ids.tolist(), edges, cfg, info, apart, chosen)
            group_frame = pl.DataFrame(
                [(pid, gid, rep) for pid, (gid, rep) in sorted(groups.items())],
                schema={"post_id": pl.Int64, "group_id": pl.Int64, "is_representative": pl.Boolean},
                orient="row",
            )
            with cat.registered("new_dup_edges", edges.to_arrow()), cat.registered("new_dup_groups", group_frame.to_arrow()):
                new_groups, gone_groups = cat.run("marts/dup_groups_since").fetchone()
                cat.run("marts/dup_tables")
                if cfg.merge_tags:
                    cat.run("marts/dup_group_tags")
                else:
                    cat.drop_table("dup_group_tags")
    kinds: dict[int, set[str]] = {}
    for a, b, kind in edges.select("post_a", "post_b", "kind").iter_rows():
        kinds.setdefault(a, set()).add(kind)
        kinds.setdefault(b, set()).add(kind)
    out = workspace / "out"
    out.mkdir(exist_ok=True)
    with clock("contact sheets"):
        _draw_sheets(workspace, groups, edges, cfg.contact_sheets)
        _draw_kind_sheets(workspace, edges if cfg.contact_sheets else edges.clear(), near if cfg.contact_sheets else [], groups)
    log.info("dedupe time by step: %s", clock.summary())
    group_frame.with_columns(
        pl.col("post_id").map_elements(lambda p: sorted(kinds.get(p, ())), return_dtype=pl.List(pl.Utf8)).alias("kinds")
    ).write_parquet(out / "duplicates.parquet")
    counts = dict(edges.group_by("kind").len().iter_rows())
    return DedupeReport(
        posts=len(ids),
        edges=counts,
        groups=len({g for g, _ in groups.values()}),
        grouped_posts=len(groups),
        since_last={"new_groups": int(new_groups), "gone_groups": int(gone_groups)},
        seconds=clock.seconds,
    )


def _draw_kind_sheets(
    workspace: Path, edges: pl.DataFrame, near: list[tuple], groups: dict[int, tuple[int, bool]] | None = None
) -> None:
    """Per edge kind, ``out/duplicates/kind_<kind>.png``: the ``SHEET_PAIRS`` weakest pairs it
    joined (lowest precision_estimate, then strength) above the closest pairs refused just below
    its threshold (``semantic``: the most similar embeddings under it; ``perceptual``: pHashes a
    bit or two beyond the radius; ``cropped``, ``derivative``, ``rotated``, ``edited``,
    ``resized``: keypoint pairs refused at the file comparison, the least differing first), so
    a person can judge the threshold by eye; a refused pair that other edges put in one of ``groups`` (post ->
    (group, representative?)) is no miss and is left out. Old sheets go."""
    from .precision import strength

    folder = workspace / "out" / "duplicates"
    for old in folder.glob("kind_*.png"):
        old.unlink()
    if not near and not edges.height:
        return
    linked = {(a, b) for a, b in edges.select("post_a", "post_b").iter_rows()}
    misses = refused_pairs(near, linked, groups or {})
    chosen: dict[str, list[tuple]] = {}
    for kind, rows in edges.group_by("kind"):
        ranked = sorted(
            rows.select("post_a", "post_b", "kind", "distance", "similarity", "precision_estimate").iter_rows(),
            key=lambda r: (r[5], strength(r[2], r[3], r[4]), r[0], r[1]),
        )
        chosen[kind[0]] = [
            (a, b, (f"{k} {d}" if s is None else f"{k} {s:.3f}") + f", p {p:.2f}") for a, b, k, d, s, p in ranked[:SHEET_PAIRS]
        ]
    posts = {p for pairs in list(chosen.values()) + list(misses.values()) for a, b, _ in pairs for p in (a, b)}
    with open_catalog(workspace, read_only=True) as cat, cat.registered("sheet_posts", pa.table({"post_id": sorted(posts)})):
        paths = dict(cat.rows("SELECT post_id, path FROM images WHERE post_id IN (SELECT post_id FROM sheet_posts)"))
    for kind in sorted(set(chosen) | set(misses)):
        rows = [(f"{kind}: the weakest pairs joined", chosen.get(kind, []))]
        if kind in misses:
            rows.append((f"{kind}: the closest pairs refused", misses[kind]))
        pair_sheet(rows, paths, folder / f"kind_{kind}.png")


def refused_pairs(
    near: list[tuple], linked: set[tuple[int, int]], groups: dict[int, tuple[int, bool]]
) -> dict[str, list[tuple[int, int, str]]]:
    """Per kind, the first ``SHEET_PAIRS`` of ``near`` ((post_a, post_b, kind, distance,
    similarity), closest first) that no edge joins (``linked``) and no group holds both of
    (``groups``: post -> (group, representative?)), each as (post_a, post_b, caption)."""
    group = {post: g for post, (g, _) in groups.items()}
    misses: dict[str, list[tuple[int, int, str]]] = {}
    for a, b, kind, dist, sim in near:
        if (a, b) in linked or (a in group and group.get(b) == group[a]):
            continue
        if len(misses.setdefault(kind, [])) < SHEET_PAIRS:
            misses[kind].append((a, b, f"{kind} {dist if sim is None else f'{sim:.3f}'}"))
    return misses


def semantic_edges(
    workspace: Path, cat, config, t: HashTable, barred: np.ndarray | None = None
) -> tuple[list[tuple], list[tuple[int, int]], list[tuple[int, int]], list[tuple]]:
    """Edge rows (post_a, post_b, kind, None, similarity) for pairs whose embeddings are alike;
    ``variant`` inside a parent/child family. With at least 2 x ``whiten_dims`` vectors they are
    PCA-whitened first and compared against ``whitened_threshold``, else raw against
    ``semantic_threshold``. Flat images (below ``min_information``) get none: different flat
    drawings embed alike.

    Also the candidates for pixel alignment: row pairs (i, j) of ``t`` whose similarity reaches
    the alignment floor (``align_whitened_floor`` or ``align_raw_floor``; those above the
    threshold too, so that one run at a low threshold can be scored at every higher one), at
    most ``align_neighbours`` a post (its most similar), and each transparent post with its
    ``align_neighbours`` nearest embeddings at any similarity.

    And with ``keypoints``, every post's ``keypoint_neighbours`` nearest at any similarity (row
    pairs): a heavy crop embeds far from its original, yet stays among its nearest. Near-flat
    posts (information from ``near_flat_floor`` up to ``min_information``) get theirs too, among
    all posts: they have no embedding edges, but a faint copy's original is often its nearest.
    Posts showing a black bar (``barred``, (N,) bool over the rows of ``t``) get their
    ``CENSORED_NEIGHBOURS`` nearest of the same aspect: bars over a third of a figure move its
    embedding further (a censored copy's original ranked 13th and 20th on a held-out board).

    And the ``NEAR_MISSES`` most similar pairs below the threshold (rows like the edges'), for
    the contact sheets."""
    cfg = config.dedupe
    embedder = plain_embedder_id(config.embed)  # the plain vectors: dedupe's thresholds are set on them
    has, vectors = load_vectors(workspace, cat, embedder, t.file_md5.tolist())
    if not has.any():
        raise StageNotRun(
            f"{workspace}: no embeddings from {config.embed.model} yet; run `curate embed {workspace}` "
            "first, or set [dedupe] semantic = false"
        )
    if (~has).any():
        log.warning(
            "%d of %d posts have no embedding from %s (run `curate embed`); they get hash edges only",
            int((~has).sum()),
            len(has),
            embedder,
        )
    where = np.flatnonzero(has)
    usable = t.information[where] >= cfg.min_information
    faint = ~usable & (t.information[where] >= cfg.near_flat_floor)  # near-flat: keypoint neighbours only
    where_faint, faint_vectors = where[faint], vectors[faint]
    where, vectors = where[usable], vectors[usable]
    threshold, floor = cfg.semantic_threshold, cfg.align_raw_floor
    plain = None  # on a whitened board, its embeddings unwhitened, for PLAIN_NEIGHBOURS
    if cfg.whiten_dims and len(vectors) >= 2 * cfg.whiten_dims:
        whitening = fit_whitening(vectors, cfg.whiten_dims)
        # unwhitened, on the whitening's unit directions: the plain cosine over the board's main
        # directions, a third of the dims to search (the same nearest as all 1,280: 97% on board F)
        directions = whitening[1] / np.linalg.norm(whitening[1], axis=0, keepdims=True)
        plain = whiten(np.concatenate([vectors, faint_vectors]), np.zeros_like(whitening[0]), directions)
        plain_rows = np.concatenate([where, where_faint])
        vectors, faint_vectors = whiten(vectors, *whitening), whiten(faint_vectors, *whitening)
        threshold, floor = cfg.whitened_threshold, cfg.align_whitened_floor
        log.info("embeddings whitened to %d dims; threshold %.3f", vectors.shape[1], threshold)
    index = build_index(vectors)
    i, j, sim = semantic_pairs(vectors, min(threshold, floor) if cfg.align else threshold, index=index)
    a, b = where[i], where[j]
    above = sim >= threshold
    candidates: list[tuple[int, int]] = []
    if cfg.align:
        near = np.flatnonzero(sim >= floor)
        near = near[strongest_per_item(a[near], b[near], sim[near], cfg.align_neighbours)]  # bounds the pixel work
        candidates = list(zip(a[near].tolist(), b[near].tolist()))
    transparent = np.flatnonzero(t.has_alpha[where]) if cfg.align else np.zeros(0, dtype=np.int64)
    if len(transparent) and cfg.align_neighbours:
        # A transparent drawing and its copy on a colour embed far apart (the colour is most
        # of the copy's picture) but stay near neighbours; their pixels are compared on the
        # drawing alone, against a stricter threshold.
        candidates += _nearest_pairs(index[0], vectors, transparent, cfg.align_neighbours, where)
    neighbours: list[tuple[int, int]] = []
    if cfg.keypoints and cfg.keypoint_neighbours and len(vectors) > 1:
        neighbours = keypoint_neighbours(index[0], vectors, where, faint_vectors, where_faint, cfg.keypoint_neighbours)
        if barred is not None and barred[where].any():
            wider = _nearest_pairs(index[0], vectors, np.flatnonzero(barred[where]), CENSORED_NEIGHBOURS, where)
            neighbours += [(i, j) for i, j in wider if same_aspect(t.width[i], t.height[i], t.width[j], t.height[j])]
        if plain is not None:
            # whitening discounts what a board's pictures share, and with it sometimes most of
            # what a heavy crop keeps of its original: that original can still be its nearest
            everyone = np.arange(len(plain))
            neighbours += _nearest_pairs(build_index(plain)[0], plain, everyone, PLAIN_NEIGHBOURS, plain_rows, fast=True)
    out = [
        (*_posts(t, x, y), _in_family(t, x, y, "semantic"), None, round(s, 4))
        for x, y, s in zip(a[above].tolist(), b[above].tolist(), sim[above].tolist())
    ]
    below = np.flatnonzero(~above)
    below = below[np.argsort(-sim[below], kind="stable")[:NEAR_MISSES]]
    misses = [(*_posts(t, int(a[k]), int(b[k])), "semantic", None, round(float(sim[k]), 4)) for k in below]
    return out, candidates, neighbours, misses


def keypoint_neighbours(
    index, vectors: np.ndarray, where: np.ndarray, faint: np.ndarray, where_faint: np.ndarray, k: int
) -> list[tuple[int, int]]:
    """(row, neighbour row) pairs of ``t`` for the keypoint checks: each of ``vectors`` (N, D),
    indexed in ``index``, with its ``k`` nearest among them and the near-flat posts (``faint``
    (M, D)) that come nearer than the k-th of those, and each near-flat post with its ``k``
    nearest among both. ``where`` (N,), ``where_faint`` (M,): their rows. A near-flat copy (a
    faint drawing, a crop of a plain part) never matches by its embedding, but its original is
    often its nearest, and the other way round (a plain canvas with one small shape, turned, its
    corners filled black); keypoints and pixels decide. The near-flat posts are searched in
    ``index`` and in a small index of their own, never in a second whole-board one."""
    sims, ids = knn(index, vectors, min(k + 1, len(vectors)))  # (N, k + 1): each post itself among them
    queries = np.repeat(np.arange(len(vectors)), ids.shape[1])
    found = ids.ravel()
    ok = (found >= 0) & (found != queries)
    pairs = list(zip(where[queries[ok]].tolist(), where[found[ok]].tolist()))
    if not len(faint):
        return pairs
    others = -np.sort(-np.where(ok.reshape(ids.shape), sims, -np.inf), axis=1)  # (N, k + 1), nearest first
    kth = others[:, k - 1] if others.shape[1] >= k else np.full(len(vectors), -np.inf)  # (N,): a post's k-th nearest
    own_index = build_index(faint)[0]
    faint_sims, faint_ids = knn(own_index, vectors, min(k, len(faint)))  # (N, k): the near-flat posts nearest each
    closer = (faint_ids >= 0) & (faint_sims >= kth[:, None])
    queries, columns = np.nonzero(closer)
    pairs += list(zip(where[queries].tolist(), where_faint[faint_ids[queries, columns]].tolist()))
    sims, ids = knn(index, faint, min(k, len(vectors)))  # (M, k) among the posts with information
    rows = np.where(ids >= 0, where[np.maximum(ids, 0)], -1)
    own_sims, own_ids = knn(own_index, faint, min(k + 1, len(faint)))  # among themselves
    own_sims[(own_ids < 0) | (own_ids == np.arange(len(faint))[:, None])] = -np.inf  # not itself
    sims = np.concatenate([np.where(ids >= 0, sims, -np.inf), own_sims], axis=1)
    rows = np.concatenate([rows, np.where(own_ids >= 0, where_faint[np.maximum(own_ids, 0)], -1)], axis=1)
    best = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    for query, picks in enumerate(best):
        pairs += [(int(where_faint[query]), int(rows[query, c])) for c in picks if np.isfinite(sims[query, c])]
    return pairs


def _nearest_pairs(
    index, vectors: np.ndarray, queries: np.ndarray, k: int, where: np.ndarray, fast: bool = False
) -> list[tuple[int, int]]:
    """(row, neighbour row) pairs of ``t``: each query (positions in ``vectors`` (N, D)) with its
    ``k`` nearest other vectors in ``index``; ``where`` (N,) maps positions to rows of ``t``.
    ``fast``: search a CPU flat index by matrix products (:func:`flat_knn`, 4x faiss's own there;
    its ties may fall the other way, so searches whose pairs earlier runs stored keep faiss's)."""
    search = flat_knn if fast and isinstance(index, faiss.IndexFlat) else knn
    _, ids = search(index, vectors[queries], min(k + 1, len(vectors)))
    q = np.repeat(queries, ids.shape[1])
    ids = ids.ravel()
    ok = (ids >= 0) & (ids != q)
    return list(zip(where[q[ok]].tolist(), where[ids[ok]].tolist()))


def barred_rows(thumbs: Thumbnails, t: HashTable) -> np.ndarray:
    """(N,) bool over the rows of ``t``: opaque pictures whose thumbnail shows a black rectangle
    of at least ``MIN_BAR_SHARE`` of it (a bar painted over, or a black box drawn), black over at
    most ``max_box_area`` of it (a drawing on black is no censored copy)."""
    out = np.zeros(len(t.post_id), dtype=bool)
    limits = KeypointLimits()
    rows = np.flatnonzero(~t.has_alpha)
    for start in range(0, len(rows), ALIGN_CHUNK):
        for row, thumb in thumbs.of(rows[start : start + ALIGN_CHUNK].tolist()).items():
            if not MIN_BAR_SHARE <= thumb.black_share <= limits.max_box_area:
                continue
            top, left, bottom, right = largest_rectangle(thumb.black)
            height, width = bottom - top, right - left
            out[row] = min(height, width) >= 3 and height * width >= MIN_BAR_SHARE * thumb.black.size
    return out


def _posts(t: HashTable, i: int, j: int) -> tuple[int, int]:
    """The post ids of rows i and j of ``t``, smaller first (how edges are keyed)."""
    a, b = int(t.post_id[i]), int(t.post_id[j])
    return (a, b) if a < b else (b, a)


def family_pairs(t: HashTable) -> list[tuple[int, int]]:
    """Row pairs (child, parent) of ``t`` whose files differ: keypoint candidates whatever their
    embeddings say, since a variant (the parent redrawn with another expression or a prop) may
    embed and hash apart from it, and a near miss between them is a ``variant`` edge."""
    row_of = {int(p): k for k, p in enumerate(t.post_id)}
    return [
        (i, row_of[int(f)])
        for i, (post, f) in enumerate(zip(t.post_id, t.family))
        if f != post and int(f) in row_of and t.file_md5[i] != t.file_md5[row_of[int(f)]]
    ]


def _in_family(t: HashTable, i: int, j: int, kind: str) -> str:
    """``variant`` for a match between different files of one parent/child family, else ``kind``."""
    return "variant" if t.family[i] == t.family[j] and t.file_md5[i] != t.file_md5[j] else kind


def _aligned_rows(
    thumbs: Thumbnails,
    t: HashTable,
    pairs: list[tuple[int, int]],
    limits: AlignLimits,
    distance: dict[tuple[int, int], int] | None = None,
    same_canvas_too: bool = False,
) -> list[tuple]:
    """Edge rows for the row pairs that align (:func:`curation.dedupe.align.aligned_pairs`),
    their thumbnails read ``ALIGN_CHUNK`` pairs at a time; pairs the last run checked the same
    way take its answer (:class:`~curation.dedupe.checks.PixelChecks`). ``distance``: the
    Hamming distance that proposed each pair, kept beside the correlation."""
    check = check_id(limits, same_canvas_too)
    keys = {(i, j): PixelChecks.key(check, t.file_md5[i], t.file_md5[j]) for i, j in pairs}
    scores = thumbs.checks.known(list(keys.values()))
    todo = [pair for pair in pairs if keys[pair] not in scores]
    with progress("aligning candidate pairs", len(todo)) as advance:
        for batch, aligned in thumbs.batched(aligned_pairs, todo, ALIGN_BATCH, limits, same_canvas_too):
            found = {(i, j): score for i, j, score in aligned}
            for pair in batch:
                scores[keys[pair]] = found.get(pair)
                thumbs.checks.add(keys[pair], found.get(pair))
            advance(len(batch))
    out = [
        (*_posts(t, i, j), _in_family(t, i, j, "aligned"), None if distance is None else int(distance[(i, j)]), round(score, 4))
        for (i, j) in pairs
        if (score := scores[keys[(i, j)]]) is not None
    ]
    log.info("%d of %d candidate pairs align (%d checked now, the rest as the last run found)", len(out), len(pairs), len(todo))
    return out


def aligned_edges(
    thumbs: Thumbnails, t: HashTable, candidates: list[tuple[int, int]], edges: list[tuple], cfg: DedupeConfig
) -> list[tuple]:
    """Edge rows (post_a, post_b, "aligned", None, correlation) for candidate pairs (row indices
    of ``t``, from :func:`semantic_edges`) not already joined by a hash edge, where one
    picture lies inside the other at the same scale (a crop, a padded copy, a transparent
    drawing on a colour): :mod:`curation.dedupe.align`."""
    joined = {(a, b) for a, b, *_ in edges}
    todo = sorted({(min(i, j), max(i, j)) for i, j in candidates if _posts(t, i, j) not in joined})
    limits = AlignLimits(
        threshold=cfg.align_threshold,
        masked_threshold=cfg.align_masked_threshold,
        flat_min_std=NEAR_FLAT_STD,
    )
    return _aligned_rows(thumbs, t, todo, limits)


def keypoint_edges(
    thumbs: Thumbnails,
    t: HashTable,
    candidates: list[tuple[int, int]],
    edges: list[tuple],
    cfg: DedupeConfig,
    background: tuple[int, int, int],
) -> tuple[list[tuple], list[tuple]]:
    """(edge rows (post_a, post_b, relation, None, correlation), near misses) for candidate pairs
    (row indices of ``t``: the alignment's, each post's nearest embeddings, each child with its
    parent) whose posts the edges so far leave in different groups, where the keypoints of one
    picture map onto the other's under one similarity transform and the pixels agree under it
    (:mod:`curation.dedupe.keypoints`): crops of any size and scale, small turns, bars painted
    over. The two files are read again (reduced to the keypoint frame) only for the pairs whose
    thumbnails agree. Batches of pairs go to ``[dedupe] workers`` processes. The relation
    (``cropped``, ``derivative``, ``rotated``, ``edited``, ``resized``) is the edge's kind
    (``variant`` inside a parent/child family, where a near miss is one too); pairs the last
    run checked take its answer. The near misses are the pairs refused at the file comparison, as rows like the
    edges' (closest first: the least differing), for the contact sheets."""
    counted, calibration = counted_kinds(cfg), shipped_calibration()
    uf = UnionFind(t.post_id.tolist())
    for a, b, kind, distance, similarity in edges:
        if kind in counted and (not cfg.min_precision or calibration.estimate(kind, distance, similarity) >= cfg.min_precision):
            uf.union(a, b)
    pairs = sorted({(min(i, j), max(i, j)) for i, j in candidates if uf.find(int(t.post_id[i])) != uf.find(int(t.post_id[j]))})
    limits = KeypointLimits()
    check = check_id((limits, background), modules=(keypoint_check,))
    keys = {(i, j): PixelChecks.key(check, t.file_md5[i], t.file_md5[j]) for i, j in pairs}
    scores = thumbs.checks.known(list(keys.values()))
    todo = [pair for pair in pairs if keys[pair] not in scores]
    read = unjudged = 0

    def files_of(chunk: list[tuple[int, int]]) -> dict[int, PairFile]:
        rows = {k for pair in chunk for k in pair}
        return pair_files(rows, thumbs.of(rows), thumbs.keypoints_of(rows), thumbs.paths_of(rows))

    def task(batch: list[tuple[int, int]], files: dict[int, PairFile]) -> tuple:
        return batch, {k: files[k] for pair in batch for k in pair if k in files}, background, limits

    with progress("matching keypoints of candidate pairs", len(todo)) as advance:
        for batch, (answers, files_read) in mapped(thumbs.workers, check_batch, todo, KEYPOINT_BATCH, files_of, task):
            read += files_read
            for pair, score in zip(batch, answers):
                if score == UNJUDGED:  # a file did not read: the next run asks again
                    scores[keys[pair]] = None
                    unjudged += 1
                    continue
                scores[keys[pair]] = score
                thumbs.checks.add(keys[pair], score)
            advance(len(batch))
    if unjudged:
        log.warning("%d candidate pairs not judged: a file did not read (asked again next run)", unjudged)
    out, misses = [], []
    for i, j in pairs:
        if (score := scores[keys[(i, j)]]) is None:
            continue
        if score > 0:
            kind, correlation = decode(score)
            out.append((*_posts(t, i, j), _in_family(t, i, j, kind), None, round(correlation, 4)))
        elif t.family[i] == t.family[j]:
            # one transform maps the keypoints and the thumbnails or the files agree broadly:
            # inside a parent/child family that is the picture redrawn in places, a variant
            out.append((*_posts(t, i, j), "variant", None, None))
        else:
            misses.append((decode_miss(score), *_posts(t, i, j)))
    near = [(a, b, m.relation, f"{m.unexplained:.1%} differ", None) for m, a, b in sorted(misses, key=lambda m: m[0].unexplained)]
    log.info(
        "%d of %d candidate pairs match by keypoints (%d checked now, %d files read again)",
        len(out),
        len(pairs),
        len(todo),
        read,
    )
    return out, near


def pair_files(rows, thumbs: dict[int, Thumb], points: dict[int, Keypoints], paths: dict[int, str]) -> dict[int, PairFile]:
    """Row -> what the keypoint check needs of its file, for the rows with a thumbnail. A file
    without keypoints takes :data:`NO_KEYPOINTS` and still gets the checks that need none (placed
    at native scale, censored in place, a flush copy): a region cut out whose shapes all touch its
    edges, where ORB looks for none."""
    return {k: PairFile(thumbs[k], points.get(k, NO_KEYPOINTS), paths.get(k)) for k in rows if k in thumbs}


def confirm_mirrors(
    thumbs: Thumbnails, t: HashTable, edges: dict[tuple[int, int], tuple[str, int]], threshold: float
) -> dict[tuple[int, int], tuple[str, int]]:
    """``edges`` less the ``mirror`` edges whose pixels disagree: one post's thumbnail mirrored
    must agree with the other's (:func:`curation.dedupe.align.agreement`) to ``threshold``.
    Many drawings are nearly symmetric (a figure in the middle), so the mirror of one hashes
    like another; a flipped repost is the same pixels flipped."""
    row_of = {int(p): k for k, p in enumerate(t.post_id)}
    mirrors = [(row_of[a], row_of[b]) for (a, b), (kind, _) in edges.items() if kind == "mirror"]
    loaded = thumbs.of(k for pair in mirrors for k in pair)
    limits = AlignLimits(threshold=threshold, min_std=NEAR_FLAT_STD)
    refused = set()
    for i, j in mirrors:
        if i in loaded and j in loaded:
            score = agreement(loaded[i].mirror(), loaded[j], limits)
            if score is None or score < threshold:
                refused.add(_posts(t, i, j))
    return {pair: edge for pair, edge in edges.items() if pair not in refused}


def hash_aligned_edges(thumbs: Thumbnails, t: HashTable, cfg: DedupeConfig, joined: set[tuple[int, int]]) -> list[tuple]:
    """Edge rows (post_a, post_b, "aligned", distance, correlation) for pairs whose hashes come near
    (:func:`curation.dedupe.edges.alignment_candidates`: pHash within ``align_hash_radius``,
    whitened backgrounds within ``align_background_radius``) and whose pixels align to
    ``align_hash_threshold`` (``align_masked_threshold`` when either is transparent); the
    Hamming distance that proposed them is kept beside the correlation, and they count as hash
    evidence (they need no embeddings). At most ``align_neighbours`` pairs a post, its closest
    (:func:`closest_per_post`)."""
    best: dict[tuple[int, int], tuple[int, int, int]] = {}
    for i, j, dist in alignment_candidates(
        t, cfg.min_information, cfg.align_hash_radius, cfg.align_background_radius, cfg.near_flat_floor, cfg.align_neighbours
    ):
        key = _posts(t, i, j)
        if key not in joined and (key not in best or dist < best[key][2]):
            best[key] = (i, j, dist)
    distance = {(i, j): d for i, j, d in closest_per_post(list(best.values()), cfg.align_neighbours)}
    return _aligned_rows(thumbs, t, list(distance), hash_align_limits(cfg), distance, same_canvas_too=True)


def closest_per_post(pairs: list[tuple], k: int) -> list[tuple]:
    """The pairs (i, j, ..., distance) among the ``k`` closest (smallest last field) of i or of
    j, in their order. Hash candidates within a radius grow with the square of a board's
    look-alikes; this keeps the pixel work a post gets bounded, as for embedding candidates."""
    if not pairs:
        return []
    i, j, distance = (np.array([p[c] for p in pairs]) for c in (0, 1, -1))
    keep = strongest_per_item(i, j, -distance.astype(np.float64), k)
    return [p for p, kept in zip(pairs, keep) if kept]


def hash_align_limits(cfg: DedupeConfig) -> AlignLimits:
    """The pixel check of pairs the hashes propose. Stricter than for embedding-proposed pairs:
    hashes near each other also bring different drawings of one layout, which align at up to
    ~0.966 on the calibration boards."""
    return AlignLimits(
        threshold=cfg.align_hash_threshold,
        masked_threshold=cfg.align_masked_threshold,
        overlay_area=cfg.overlay_area,
        min_std=HASH_ALIGN_STD,
        canvas_min_std=NEAR_FLAT_STD,
    )


def turned_edges(thumbs: Thumbnails, t: HashTable, cfg: DedupeConfig, joined: set[tuple[int, int]]) -> list[tuple]:
    """Edge rows (post_a, post_b, "rotated", distance, correlation) for pairs where one picture
    turned by a quarter, a half or three quarters hashes near the other
    (:func:`curation.dedupe.edges.turned_candidates`, within ``align_hash_radius``) and, turned
    so, agrees with it pixel for pixel (:func:`curation.dedupe.align.agreement`) to
    ``align_hash_threshold`` (``align_masked_threshold`` when either is transparent). At most
    ``align_neighbours`` pairs a post, its closest (:func:`closest_per_post`)."""
    best: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for i, j, quarters, dist in turned_candidates(t, cfg.min_information, cfg.align_hash_radius, cfg.align_neighbours):
        key = _posts(t, i, j)
        if key not in joined and (key not in best or dist < best[key][3]):
            best[key] = (i, j, quarters, dist)
    limits = hash_align_limits(cfg)
    check = check_id(("turned", limits))
    pairs = closest_per_post(list(best.values()), cfg.align_neighbours)
    keys = {(i, j, q): PixelChecks.key(f"{check}q{q}", t.file_md5[i], t.file_md5[j]) for i, j, q, _ in pairs}
    scores = thumbs.checks.known(list(keys.values()))  # the last run's answers for pairs of unchanged files
    todo = [pair[:3] for pair in pairs if keys[pair[:3]] not in scores]
    with progress("checking turned pairs", len(todo)) as advance:
        for batch, found in thumbs.batched(turned_scores, todo, ALIGN_BATCH, limits):
            for triple, score in found.items():  # pairs missing a thumbnail are not answered
                scores[keys[triple]] = score
                thumbs.checks.add(keys[triple], score)
            advance(len(batch))
    return [
        (*_posts(t, i, j), _in_family(t, i, j, "rotated"), int(dist), round(score, 4))
        for i, j, quarters, dist in pairs
        if (score := scores.get(keys[(i, j, quarters)])) is not None
    ]


def near_flat_edges(thumbs: Thumbnails, t: HashTable, cfg: DedupeConfig, joined: set[tuple[int, int]]) -> list[tuple]:
    """Hash edge rows (post_a, post_b, "perceptual" or "mirror", distance, None) between near-flat pictures
    (information between ``near_flat_floor`` and ``min_information``) whose hashes are within
    ``near_flat_radius`` and whose thumbnails agree (same canvas, or one inside the other) to at
    least ``near_flat_threshold``."""
    if cfg.near_flat_floor >= cfg.min_information:
        return []
    candidates = near_flat_candidates(
        t, cfg.min_information, cfg.near_flat_floor, cfg.near_flat_radius, max(cfg.near_flat_radius, cfg.close_dhash_radius)
    )
    loaded = thumbs.of(k for i, j, _, _ in candidates for k in (i, j))
    limits = AlignLimits(threshold=cfg.near_flat_threshold, min_std=NEAR_FLAT_STD)
    out = []
    for i, j, dist, mirrored in candidates:
        pair = _posts(t, i, j)
        if pair in joined or i not in loaded or j not in loaded:
            continue
        score = agreement(loaded[i].mirror() if mirrored else loaded[i], loaded[j], limits)
        if score is not None and score >= limits.threshold:
            joined.add(pair)
            out.append((*pair, _in_family(t, i, j, "mirror" if mirrored else "perceptual"), int(dist), None))
    return out


def composite_edges(
    thumbs: Thumbnails, t: HashTable, cfg: DedupeConfig, joined: set[tuple[int, int]], background: float
) -> list[tuple]:
    """Edge rows (post_a, post_b, "composite", disagreeing thumbnail pixels, correlation) between a
    transparent post and the opaque posts of the same width and height that are it flattened on
    one colour (:mod:`curation.dedupe.composite`); pairs already joined are left out. Posts are
    compared one canvas size at a time, each transparent post with the few opaque posts whose
    values come nearest what it would look like on their colour (a nearest-neighbour search,
    :func:`~curation.dedupe.composite.candidate_copies`: the pairs compared grow with the
    posts, not with every pair of a size).

    A rebuild compares only the pairs with a file the last run did not compare:
    the answer for two files depends on their thumbnails, the limits and the code alone, so the
    last run's composites among files it compared (``pixel_checks``: each compared file, and
    each composite pair with its scores) are this run's too."""

    def size(k: int) -> tuple[int, int]:
        return int(t.width[k]), int(t.height[k])

    originals_by_size: dict[tuple[int, int], list[int]] = {}
    for k in np.flatnonzero(t.has_alpha & (t.width > 0)):
        originals_by_size.setdefault(size(k), []).append(int(k))
    opaque_by_size: dict[tuple[int, int], list[int]] = {}
    for k in np.flatnonzero(~t.has_alpha & (t.width > 0)):
        if size(k) in originals_by_size:
            opaque_by_size.setdefault(size(k), []).append(int(k))
    limits = CompositeLimits(
        tolerance=cfg.composite_tolerance,
        max_disagree=cfg.composite_max_disagree,
        threshold=cfg.composite_threshold,
        min_contrast=cfg.composite_min_contrast,
    )
    todo = {wh: ks for wh, ks in originals_by_size.items() if wh in opaque_by_size}
    md5 = t.file_md5
    check = check_id((limits, background, CompositeAnswers.LAYOUT), modules=(composite_module,))
    known = CompositeAnswers(thumbs.checks, check)
    seen = known.compared({md5[k] for wh, ks in todo.items() for k in ks + opaque_by_size[wh]})
    found: dict[tuple[int, int], tuple[int, float]] = {}  # (transparent row, opaque row) -> (disagree, correlation)
    compared = 0
    with progress("transparent posts vs opaque posts of their size", sum(map(len, todo.values()))) as advance:
        for wh, originals in todo.items():
            opaque = opaque_by_size[wh]
            fresh = [k for k in originals if md5[k] not in seen]
            old = [k for k in originals if md5[k] in seen]
            new_opaque = [k for k in opaque if md5[k] not in seen]
            # new transparent posts against every copy; old ones against new copies only
            for rows, against in ((fresh, opaque), (old, new_opaque)):
                if rows and against:
                    compared += _compare_composites(thumbs, rows, against, background, limits, found)
            old_opaque: dict[str, list[int]] = {}
            for j in opaque:
                if md5[j] in seen:
                    old_opaque.setdefault(md5[j], []).append(j)
            for i in old:  # pairs of old files: the last run's answer
                for other, scores in known.composites_of(md5[i]):
                    for j in old_opaque.get(other, ()):
                        found[(i, j)] = scores
            advance(len(originals))
    out = []
    for (i, j), (disagree, correlation) in sorted(found.items()):
        known.keep(md5[i], md5[j], disagree, correlation)
        if _posts(t, i, j) not in joined:
            out.append((*_posts(t, i, j), _in_family(t, i, j, "composite"), disagree, round(correlation, 4)))
    log.info(
        "%d transparent/opaque pairs of one size are composites; %d compared (the others' answers reused)", len(out), compared
    )
    return out


def _compare_composites(
    thumbs: Thumbnails,
    originals: list[int],
    opaque: list[int],
    background: float,
    limits: CompositeLimits,
    found: dict[tuple[int, int], tuple[int, float]],
) -> int:
    """Compare transparent rows ``originals`` with the opaque rows ``opaque`` (one canvas size)
    that :func:`~curation.dedupe.composite.candidate_copies` proposes for them, adding each
    composite to ``found``; returns the pairs compared. Each opaque thumbnail is read twice
    (its keys, then its candidates' checks), ``COMPOSITE_CHUNK`` at a time."""
    loaded = {i: thumb for i, thumb in thumbs.of(originals).items() if thumb.alpha is not None}
    if not loaded or not opaque:
        return 0
    keys: dict[tuple[int, int], list[CopyKeys]] = {}  # by thumbnail shape
    for start in range(0, len(opaque), COMPOSITE_CHUNK):
        part = thumbs.of(opaque[start : start + COMPOSITE_CHUNK])
        shapes: dict[tuple[int, int], list[tuple[int, Thumb]]] = {}
        for n, k in enumerate(opaque[start : start + COMPOSITE_CHUNK]):
            if k in part:  # one file size, thumbnails a pixel apart: searched apart
                shapes.setdefault(part[k].grey.shape, []).append((start + n, part[k]))
        for shape, owned in shapes.items():
            keys.setdefault(shape, []).append(copy_keys(owned, limits))
    which_parts, hit_parts = [], []
    for shape, parts in keys.items():
        asking = [i for i in sorted(loaded) if loaded[i].grey.shape == shape]
        if asking:
            which, hits = candidate_copies([loaded[i] for i in asking], CopyKeys.join(parts), background, limits)
            which_parts.append(np.asarray(asking, np.int64)[which]), hit_parts.append(hits)
    if not which_parts:
        return 0
    pairs = np.stack([np.concatenate(which_parts), np.concatenate(hit_parts)])
    order = np.argsort(pairs[1], kind="stable")  # by opaque position, so that each chunk is read once
    which, hits = pairs[0][order], pairs[1][order]
    compared = 0
    for start in range(0, len(opaque), COMPOSITE_CHUNK):
        lo, hi = np.searchsorted(hits, [start, start + COMPOSITE_CHUNK])
        if lo == hi:
            continue
        part = thumbs.of(opaque[k] for k in np.unique(hits[lo:hi]).tolist())
        by_query: dict[int, list[int]] = {}
        for i, k in zip(which[lo:hi].tolist(), hits[lo:hi].tolist()):
            if opaque[k] in part:
                by_query.setdefault(i, []).append(opaque[k])
        for i, rows in by_query.items():
            compared += len(rows)
            for n, disagree, correlation in composite_scores(loaded[i], Copies.of([part[k] for k in rows]), background, limits):
                found[(i, rows[n])] = (disagree, correlation)
    return compared


class CompositeAnswers:
    """The composite check's answers kept in ``pixel_checks`` between runs, under one check id:
    ``<check>:compared:<md5>`` for every file a run compared (all of its size's other kind), and
    ``<check>:yes:<transparent md5>:<opaque md5>`` (the correlation) with ``<check>:px:...`` (the
    disagreeing pixels) for every composite found. No answer is kept for the many pairs that are
    not composites: a pair of compared files without a stored composite is not one."""

    LAYOUT = 2  # of the keys: part of the check id, so that answers stored another way are not half read

    def __init__(self, checks: PixelChecks, check: str) -> None:
        self.checks, self.check = checks, check
        self._composites: dict[str, list[tuple[str, tuple[int, float]]]] | None = None

    def compared(self, md5s: set[str]) -> set[str]:
        """Of ``md5s`` (which this run compares, and so records), those the last run compared."""
        prefix = f"{self.check}:compared:"
        keys = [prefix + m for m in sorted(md5s)]
        last = self.checks.known(keys)
        for key in keys:
            self.checks.add(key, None)
        return {key[len(prefix) :] for key in last}

    def composites_of(self, transparent: str) -> list[tuple[str, tuple[int, float]]]:
        """(opaque md5, (disagree, correlation)) of each composite of ``transparent`` the last run found."""
        if self._composites is None:
            yes, px = f"{self.check}:yes:", f"{self.check}:px:"
            pixels = {key[len(px) :]: score for key, score in self.checks.stored_with_prefix(px).items()}
            self._composites = {}
            for key, correlation in self.checks.stored_with_prefix(yes).items():
                pair = key[len(yes) :]
                if correlation is not None and pixels.get(pair) is not None:
                    original, copy = pair.split(":")
                    self._composites.setdefault(original, []).append((copy, (int(pixels[pair]), float(correlation))))
        return self._composites.get(transparent, [])

    def keep(self, transparent: str, opaque: str, disagree: int, correlation: float) -> None:
        self.checks.add(f"{self.check}:yes:{transparent}:{opaque}", float(correlation))
        self.checks.add(f"{self.check}:px:{transparent}:{opaque}", float(disagree))


def mapped(workers: LazyPool, fn, pairs: list[tuple], batch: int, load, task):
    """(batch, ``fn(*task(batch, load(its chunk)))``) for batches of ``pairs``, in order, in the
    ``workers``' processes when there are several batches. What the checks need is read by
    ``load`` ``ALIGN_CHUNK`` pairs at a time (a board's thumbnails are too many to hold at
    once), each chunk when its first batch is handed out: the workers are then still busy
    with the last batches of the chunk before instead of waiting for the catalog."""
    asked: deque[list[tuple]] = deque()

    def tasks():
        for start in range(0, len(pairs), ALIGN_CHUNK):
            chunk = pairs[start : start + ALIGN_CHUNK]
            loaded = load(chunk)
            for b in range(0, len(chunk), batch):
                asked.append(chunk[b : b + batch])
                yield task(asked[-1], loaded)

    batches = sum(math.ceil(min(ALIGN_CHUNK, len(pairs) - start) / batch) for start in range(0, len(pairs), ALIGN_CHUNK))
    for answer in bounded_map(workers.for_tasks(batches), fn, tasks(), workers.in_flight):
        yield asked.popleft(), answer


class Thumbnails:
    """The alignment thumbnails of the rows of a :class:`HashTable`, read from the catalog only
    for the rows asked for (a board's thumbnails take ~4 KB a file: too many to hold at once)."""

    def __init__(self, cat, t: HashTable, workers: LazyPool | None = None) -> None:
        self._cat, self._md5 = cat, t.file_md5
        self.checks = PixelChecks(cat)  # the answers of pixel checks made before
        self.workers = workers or LazyPool(0)  # the stage's worker processes, for batches of checks

    def batched(self, fn, pairs: list[tuple], batch: int, *arguments):
        """(batch, ``fn(thumbnails of its rows, batch, *arguments)``) for batches of ``pairs`` (row
        pairs or (i, j, ...) tuples), in order (:func:`mapped`): each batch takes only its own
        thumbnails."""

        def thumbnails(chunk: list[tuple]) -> dict[int, Thumb]:
            return self.of(k for pair in chunk for k in pair[:2])

        def task(part: list[tuple], loaded: dict[int, Thumb]) -> tuple:
            return ({k: loaded[k] for pair in part for k in pair[:2] if k in loaded}, part, *arguments)

        yield from mapped(self.workers, fn, pairs, batch, thumbnails, task)

    def _by_file(self, rows, mart: str) -> tuple[dict[str, list[int]], list[tuple]]:
        """(md5 -> the given rows with that file, the rows ``mart`` gives for those md5s)."""
        wanted: dict[str, list[int]] = {}
        for k in set(rows):
            wanted.setdefault(self._md5[k], []).append(k)
        if not wanted:
            return wanted, []
        with self._cat.registered("wanted_md5s", pa.table({"md5": list(wanted)})):
            return wanted, self._cat.run(mart).fetchall()

    def paths_of(self, rows) -> dict[int, str]:
        """Row index -> the path of its file (for the few checks that read files again)."""
        wanted, found = self._by_file(rows, "marts/dedupe_paths")
        return {k: path for md5, path in found for k in wanted[md5]}

    def keypoints_of(self, rows) -> dict[int, Keypoints]:
        """Row index -> :class:`~curation.images.keypoints.Keypoints` for the given rows whose
        file has enough of them (:func:`pair_files` gives the others :data:`NO_KEYPOINTS`)."""
        wanted, found = self._by_file(rows, "marts/dedupe_keypoints")
        out = {}
        for md5, xy, descriptors in found:
            points = Keypoints.unpack(xy, descriptors)
            if points is not None:
                out.update({k: points for k in wanted[md5]})
        return out

    def of(self, rows) -> dict[int, Thumb]:
        """Row index -> :class:`Thumb` for the given rows that have a thumbnail."""
        wanted, found = self._by_file(rows, "marts/dedupe_thumbs")
        out = {}
        for md5, thumb, alpha, thumb_width, width, height in found:
            made = thumb_from(thumb, alpha, thumb_width, width, height)
            if made is not None:
                out.update({k: made for k in wanted[md5]})
        return out


def thumb_from(
    thumb: bytes | None, alpha: bytes | None, thumb_width: int | None, width: int | None, height: int | None
) -> Thumb | None:
    """A :class:`Thumb` from its stored columns (None when the file has no thumbnail)."""
    if thumb is None or not thumb_width or not width or not height:
        return None
    grey = np.frombuffer(thumb, dtype=np.uint8).reshape(-1, thumb_width)
    return Thumb(
        grey, None if alpha is None else np.frombuffer(alpha, dtype=np.uint8).reshape(grey.shape), int(width), int(height)
    )
