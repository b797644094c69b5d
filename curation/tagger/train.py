"""``curate train``: out-of-fold tag probabilities for every selected post from K-fold heads.

Posts are dealt into K folds by unit (duplicate groups and families never straddle folds,
as in splits) with the same multi-label stratification; for each fold a head is trained on
the other K - 1 and predicts this one, so no post is ever scored by a head that saw it. The
head's probabilities are blended with neighbour and duplicate-group evidence
(:mod:`curation.tagger.evidence`), drawn from the other folds and from other posts only. The
probabilities go to a :class:`~curation.tagger.store.PredictionStore` named ``kfold-heads``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import Catalog
from ..context import Where, stage_context
from ..embed import configured_embedder_id, load_vectors
from ..embed.models import pick_device
from ..errors import CurationError, StageNotRun
from ..progress import progress
from ..split.stage import label_csr, selected_units
from ..split.stratify import iterative_stratification, stable_fraction
from .evidence import EvidenceOptions, FoldEvidence
from .heads import RATINGS, TrainOptions, csr_entries, predict, train_head
from .store import building, tagger_folder

log = logging.getLogger(__name__)
OUR_TAGGER = "kfold-heads"


@dataclass
class TrainReport:
    posts: int = 0
    without_embedding: int = 0
    tags: int = 0
    folds: int = 0
    seconds: float = 0.0
    folder: Path | None = None


@dataclass
class LabelledPosts:
    """The posts a tagger sees: N posts, K tags."""

    post_ids: np.ndarray  # (N,) int64
    md5: list[str]
    ratings: np.ndarray  # (N,) int8, index into RATINGS, -1 unknown
    indptr: np.ndarray  # (N + 1,) CSR over tag indices
    indices: np.ndarray
    tags: pl.DataFrame  # name, category, count, idx (K rows)


def labelled_posts(cat: Catalog) -> LabelledPosts:
    if not cat.has_table("selected_tags"):
        raise StageNotRun("nothing selected yet; run `curate select` first")
    posts = cat.run("marts/tagger_posts").fetchall()
    cat.run("marts/post_labels")
    post_ids = np.array([r[0] for r in posts], dtype=np.int64)  # sorted: tagger_posts orders by post_id
    labels = cat.frame("marts/tagger_labels")  # (post_id, idx) ordered by post_id: vectorised, no row objects
    label_posts = labels["post_id"].to_numpy().astype(np.int64)
    rows = np.searchsorted(post_ids, label_posts)
    usable = (
        (rows < len(post_ids)) & (post_ids[np.minimum(rows, len(post_ids) - 1)] == label_posts)
        if len(post_ids)
        else np.zeros(len(label_posts), dtype=bool)
    )
    indptr = np.searchsorted(rows[usable], np.arange(len(post_ids) + 1))
    ratings = np.array([RATINGS.index(r[2]) if r[2] in RATINGS else -1 for r in posts], dtype=np.int8)
    return LabelledPosts(
        post_ids,
        [r[1] for r in posts],
        ratings,
        indptr,
        labels["idx"].to_numpy().astype(np.int64)[usable],
        cat.frame("marts/tagger_tags"),
    )


def assign_folds(
    cat: Catalog, post_ids: np.ndarray, folds: int, seed: int, group_by_artist: bool, min_tag_posts: int
) -> np.ndarray:
    """(N,) fold per post: whole units, stratified on the label tags with at least ``min_tag_posts`` posts."""
    _, post_unit = selected_units(cat, group_by_artist)
    keys = np.array(sorted({post_unit[int(p)] for p in post_ids}), dtype=np.int64)
    unit_index = {int(k): i for i, k in enumerate(keys)}
    wanted = set(int(p) for p in post_ids)
    rows = [r for r in cat.run("marts/split_labels", min_posts=min_tag_posts).fetchall() if r[0] in wanted]
    indptr, labels, counts, n_labels = label_csr(unit_index, {p: post_unit[p] for p in wanted}, rows)
    unit_of = np.array([unit_index[post_unit[int(p)]] for p in post_ids])
    sizes = np.bincount(unit_of, minlength=len(keys))
    chosen = iterative_stratification(
        sizes, indptr, labels, counts, np.full(folds, 1.0 / folds), stable_fraction(keys, seed), n_labels=n_labels
    )
    return chosen[unit_of].astype(np.int64)


def duplicate_group_of(cat: Catalog, post_ids: np.ndarray) -> np.ndarray:
    """(N,) duplicate-group number of each post (-1: in none)."""
    group = np.full(len(post_ids), -1, dtype=np.int64)
    if cat.has_table("dup_groups"):
        position = {int(p): i for i, p in enumerate(post_ids)}
        for post, group_id in cat.rows("SELECT post_id, group_id FROM dup_groups"):
            if post in position:
                group[position[post]] = group_id
    return group


def run_train(workspace: Where) -> TrainReport:
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.tagger
    device = pick_device(cfg.device)
    options = TrainOptions.from_config(cfg, seed=config.split.seed)
    started = time.perf_counter()
    with ctx.staged() as cat:
        data = labelled_posts(cat)
        embedder = configured_embedder_id(config.embed)
        has, vectors = load_vectors(workspace, cat, embedder, data.md5)
        report = TrainReport(posts=int(has.sum()), without_embedding=int((~has).sum()), tags=data.tags.height, folds=cfg.folds)
        if report.without_embedding:
            log.warning(
                "%d posts have no embedding from %s (run `curate embed`); they get no predictions",
                report.without_embedding,
                embedder,
            )
        if report.posts < 2 * cfg.folds or not report.tags:
            raise CurationError(
                f"{workspace}: {report.posts} posts with embeddings and {report.tags} label tags: too few "
                f"to train {cfg.folds}-fold heads (run `curate embed`, or select more)"
            )
        post_ids = data.post_ids[has]
        keep = np.flatnonzero(has)
        indptr = np.concatenate([[0], np.cumsum(np.diff(data.indptr)[keep])])
        indices = data.indices[csr_entries(data.indptr, keep)[1]]
        ratings = data.ratings[keep]
        fold = assign_folds(cat, post_ids, cfg.folds, config.split.seed, config.split.group_by_artist, config.split.min_tag_posts)
        group = duplicate_group_of(cat, post_ids)
        evidence = EvidenceOptions.from_config(cfg)
        folder = tagger_folder(workspace, OUR_TAGGER)
        with (
            building(
                folder,
                post_ids,
                data.tags["name"].to_list(),
                cfg.chunk_tags,
                meta={
                    "name": OUR_TAGGER,
                    "kind": "kfold-head",
                    "embedder": embedder,
                    "folds": cfg.folds,
                    "head": cfg.head,
                    "epochs": cfg.epochs,
                    "prior_weighted_loss": cfg.prior_weighted_loss,
                    "neighbours": cfg.neighbours,
                    "neighbour_weight": cfg.neighbour_weight,
                    "group_weight": cfg.group_weight,
                },
            ) as store,
            progress(f"train {cfg.folds}-fold {cfg.head} heads ({device})", cfg.folds) as advance,
        ):
            for k in range(cfg.folds):
                held_out, training = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
                model = train_head(vectors, indptr, indices, ratings, training, report.tags, options, device)
                beside = FoldEvidence(vectors, indptr, indices, report.tags, training, group, evidence)
                for rows, probabilities, rating in predict(model, vectors, held_out, device=device):
                    store.write(rows, beside.blend(rows, probabilities).astype(np.float16), rating)
                advance(1)
        frame = pl.DataFrame({"post_id": post_ids, "fold": fold})
        with cat.registered("new_folds", frame.to_arrow()):
            cat.con.execute("DELETE FROM tagger_folds; INSERT INTO tagger_folds SELECT post_id, fold FROM new_folds")
        cat.run(
            "marts/taggers_add", name=OUR_TAGGER, kind="kfold-head", folder=str(folder), posts=len(post_ids), tags=report.tags
        )
    report.seconds = time.perf_counter() - started
    report.folder = folder
    return report
