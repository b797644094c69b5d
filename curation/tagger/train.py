"""``curate train``: out-of-fold tag probabilities for every selected post from K-fold heads.

Posts are dealt into K folds by unit (duplicate groups and families never straddle folds,
as in splits) with the same multi-label stratification; for each fold a head is trained on
the other K - 1 and predicts this one, so no post is ever scored by a head that saw it. The
head's probabilities are blended with neighbour and duplicate-group evidence
(:mod:`curation.tagger.evidence`), drawn from the other folds and from other posts only. The
probabilities go to a :class:`~curation.tagger.store.PredictionStore` named ``kfold-heads``,
with each fold's head beside them (``heads/fold_<k>.pt``) and the ids of every post that head
has ever trained on (``heads/fold_<k>.trained.npy``).

A scheduled rebuild warm-starts (``[tagger] warm_start``): fold k's head continues from the
last run's fold-k head for ``warm_start_epochs`` when that is leak-free, i.e. no post now in
fold k is among the posts that head (or any head it continued from) trained on. Folds stay put
across rebuilds (:func:`assign_folds`: a unit keeps its fold, only new units are dealt), so old
posts keep their folds unless their unit merged with another. At most
``warm_start_max_new_tags`` of the label tags may be new. Otherwise that fold, or every fold,
starts from scratch, and the log says why.

A small change does not train at all (``[tagger] retrain_after_change``): when the posts that are
new, removed or relabelled since the heads last trained are at most that share of the posts they
trained on, the same heads stay, each new post is predicted by its fold's head (which never saw
it: leak-free as before) and appended to the store as a segment, and removed posts leave it;
every other post keeps its probabilities. A label tag new since then (a tag that crossed
``[select] min_tag_count``) has no head row: it gets probabilities at the next training. The
share counts from the last training (``labels_at_training.npz`` in the store: each post's label
fingerprint then), so a run of small deltas retrains once they add up. More new label tags than that share of the tags, another
embedder or head, a changed ``TAGGER_VERSION``, or a fold holding a post its head trained on
mean training.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import Catalog
from ..config import TaggerConfig
from ..context import Where, stage_context
from ..embed import configured_embedder_id, load_vectors
from ..embed.models import pick_device
from ..errors import ConfigError, CurationError, StageNotRun
from ..progress import progress
from ..split.stage import label_csr, selected_units
from ..split.stratify import place_new_units, stable_fraction
from .evidence import EvidenceOptions, FoldEvidence
from .finetune import load_backbone, tail_module, trunk_maps
from .heads import RATINGS, SavedHead, TrainOptions, csr_entries, head_model, load_head, predict, save_head, train_head
from .label_context import LabelContext, fit_label_context
from .store import PredictionStore, building, register, tagger_folder

log = logging.getLogger(__name__)
OUR_TAGGER = "kfold-heads"
# training settings a store records when they differ from the defaults: changing one trains again
TRAINING_KEYS = ("max_steps", "batch_size", "learning_rate", "loss", "early_stopping", "patience")
_DEFAULT_TAGGER = TaggerConfig()
TAGGER_VERSION = 3  # raise when training or blending changes what a head predicts: the next rebuild trains
LABELS_AT_TRAINING = "labels_at_training.npz"
TUNED_PREDICT_BATCH = 256  # posts a tuned head predicts at once: its tail's activations for 4,096 take gigabytes


@dataclass
class TrainReport:
    posts: int = 0
    without_embedding: int = 0
    tags: int = 0
    folds: int = 0
    warm_folds: int = 0  # folds whose head continued from the last run's
    cold_reason: str = ""  # why the other folds started from scratch
    mode: str = "trained"  # trained | topped up (new posts predicted by the existing heads)
    why_trained: str = ""  # why a rebuild trained rather than topped up
    new_posts: int = 0  # topped up: posts predicted and appended
    removed_posts: int = 0  # topped up: posts that left the store
    changed_share: float = 0.0  # topped up: share of posts new, removed or relabelled since the heads trained
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
    cat: Catalog,
    post_ids: np.ndarray,
    folds: int,
    seed: int,
    group_by_artist: bool,
    min_tag_posts: int,
    previous: dict[int, int] | None = None,
) -> np.ndarray:
    """(N,) fold per post: whole units, stratified on the label tags with at least ``min_tag_posts``
    posts. With ``previous`` (post -> fold of the last run, same number of folds) a unit keeps the
    fold of its smallest post placed before, and only new units are dealt, restoring the
    proportions: folds stay put across rebuilds, which is what lets heads warm-start."""
    _, post_unit = selected_units(cat, group_by_artist)
    keys = np.array(sorted({post_unit[int(p)] for p in post_ids}), dtype=np.int64)
    unit_index = {int(k): i for i, k in enumerate(keys)}
    wanted = set(int(p) for p in post_ids)
    rows = [r for r in cat.run("marts/split_labels", min_posts=min_tag_posts).fetchall() if r[0] in wanted]
    indptr, labels, counts, n_labels = label_csr(unit_index, {p: post_unit[p] for p in wanted}, rows)
    unit_of = np.array([unit_index[post_unit[int(p)]] for p in post_ids])
    sizes = np.bincount(unit_of, minlength=len(keys))
    kept = np.full(len(keys), -1, dtype=np.int64)
    for post in sorted(previous or {}):
        u = unit_index.get(post_unit.get(post, -1), -1)
        if u >= 0 and kept[u] < 0:
            kept[u] = previous[post]
    chosen = place_new_units(
        sizes, indptr, labels, counts, np.full(folds, 1.0 / folds), stable_fraction(keys, seed), kept, n_labels
    )
    return chosen[unit_of].astype(np.int64)


def post_units(cat: Catalog, post_ids: np.ndarray, group_by_artist: bool) -> np.ndarray:
    """(N,) unit key of each post (its duplicate group, family or artist, as splits deal them)."""
    _, post_unit = selected_units(cat, group_by_artist)
    return np.array([post_unit.get(int(p), -int(p) - 1) for p in post_ids], dtype=np.int64)


def previous_folds(cat: Catalog, folder: Path, folds: int) -> dict[int, int]:
    """post -> fold of the last run, when it dealt the same number of folds (else none).

    A post that has left the selection since and comes back keeps the fold its heads imply: the
    one fold whose head never trained on it (every other head did). Dealt anew, it could land
    in a fold whose head learnt it, which no head may then score, and a small rebuild would
    have to train instead of topping up."""
    meta = folder / "meta.json"
    if not meta.is_file() or PredictionStore(folder).meta.get("folds") != folds:
        return {}
    placed = dict(cat.rows("SELECT post_id, fold FROM tagger_folds"))
    lists = [trained_path(folder, k) for k in range(folds)]
    if folds < 2 or not all(path.is_file() for path in lists):
        return placed
    trained = [np.load(path) for path in lists]
    seen = np.unique(np.concatenate(trained))
    learnt = np.zeros((len(seen), folds), dtype=bool)  # learnt[i, k]: head k trained on seen[i]
    for k, ids in enumerate(trained):
        learnt[np.searchsorted(seen, ids), k] = True
    left_out = learnt.sum(axis=1) == folds - 1
    for post, fold in zip(seen[left_out].tolist(), np.argmin(learnt[left_out], axis=1).tolist()):
        placed.setdefault(post, fold)
    return placed


def options_blocks(meta: dict) -> int:
    """The backbone stages a run's heads tune (meta's ``finetune``; 0 when absent)."""
    return int((meta.get("finetune") or {}).get("blocks", 0))


def _predict_batch(posts: FoldedPosts) -> int:
    return 4096 if posts.tuning is None else TUNED_PREDICT_BATCH


def head_path(folder: Path, k: int) -> Path:
    return folder / "heads" / f"fold_{k}.pt"


def trained_path(folder: Path, k: int) -> Path:
    return folder / "heads" / f"fold_{k}.trained.npy"


def context_path(folder: Path, k: int) -> Path:
    return folder / "heads" / f"fold_{k}.context.npz"


def warm_starts(
    previous: Path, post_ids: np.ndarray, fold: np.ndarray, tags: list[str], meta: dict, cfg
) -> tuple[dict[int, tuple[SavedHead, np.ndarray]], str]:
    """The last run's heads each fold may continue from (with the posts each has trained on),
    and why the others may not.

    post_ids, fold : (N,) this run's posts and their folds; ``meta`` is this run's store meta
    (embedder, head, folds, version: a change in any means from scratch)."""
    if not cfg.warm_start:
        return {}, "warm_start = false"
    if not (previous / "heads").is_dir():
        return {}, "no earlier heads"
    last = PredictionStore(previous)
    changed = [k for k in ("embedder", "head", "folds", "version", "finetune") if last.meta.get(k) != meta.get(k)]
    if changed:
        return {}, f"{', '.join(changed)} changed"
    new_tags = len(set(tags) - set(last.tags)) / max(len(tags), 1)
    if new_tags > cfg.warm_start_max_new_tags:
        return {}, f"{new_tags:.0%} of the label tags are new (warm_start_max_new_tags {cfg.warm_start_max_new_tags:g})"
    heads, leaky = {}, []
    for k in range(meta["folds"]):
        if not trained_path(previous, k).is_file():
            continue
        trained = np.load(trained_path(previous, k))
        if np.isin(post_ids[fold == k], trained).any():  # it would score posts it learnt from
            leaky.append(k)
            continue
        saved = load_head(head_path(previous, k))
        if saved is not None and saved.head == meta["head"] and saved.finetune_blocks == options_blocks(meta):
            heads[k] = (saved, trained)
    reason = f"folds {', '.join(map(str, leaky))} hold posts their last head trained on" if leaky else ""
    if len(heads) + len(leaky) < meta["folds"]:
        reason = "; ".join(filter(None, [reason, "some earlier heads are missing"]))
    return heads, reason


def duplicate_group_of(cat: Catalog, post_ids: np.ndarray) -> np.ndarray:
    """(N,) duplicate-group number of each post (-1: in none)."""
    group = np.full(len(post_ids), -1, dtype=np.int64)
    if cat.has_table("dup_groups"):
        position = {int(p): i for i, p in enumerate(post_ids)}
        for post, group_id in cat.rows("SELECT post_id, group_id FROM dup_groups"):
            if post in position:
                group[position[post]] = group_id
    return group


def label_fingerprints(
    tag_names: list[str], indptr: np.ndarray, indices: np.ndarray, ratings: np.ndarray, among: set[str] | None = None
) -> np.ndarray:
    """(N,) uint64 per post: a fingerprint of its label set and rating (equal sets, equal values),
    counting only the tags in ``among`` when given."""
    import hashlib

    values = np.array(
        [
            int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") if among is None or t in among else 0
            for t in tag_names
        ],
        np.uint64,
    )
    with np.errstate(over="ignore"):
        total = np.concatenate([[np.uint64(0)], np.cumsum(values[indices], dtype=np.uint64)])
        return total[indptr[1:]] - total[indptr[:-1]] + ratings.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)


@dataclass
class FoldedPosts:
    """The N posts with embeddings a run trains on or predicts, with everything beside them."""

    post_ids: np.ndarray  # (N,) int64
    vectors: np.ndarray  # (N, D) embeddings: the neighbour evidence, and what the heads read unless fine-tuning
    indptr: np.ndarray  # (N + 1,) CSR over label tag indices
    indices: np.ndarray
    ratings: np.ndarray  # (N,) int8
    fold: np.ndarray  # (N,) int64
    group: np.ndarray  # (N,) duplicate group, -1 for none
    fingerprints: np.ndarray  # (N,) uint64, label_fingerprints
    evidence: EvidenceOptions
    tuning: Tuning | None = None  # [tagger] finetune: trunk maps and the backbone's tail

    @property
    def inputs(self) -> np.ndarray:
        """What the heads read: (N, D) embeddings, or (N, C, h, w) trunk maps when fine-tuning."""
        return self.vectors if self.tuning is None else self.tuning.maps

    def features(self):
        """A fresh trainable copy of the backbone's tail for one fold's head (None: a plain head)."""
        return None if self.tuning is None else tail_module(self.tuning.network, self.tuning.blocks)


@dataclass
class Tuning:
    """What ``[tagger] finetune`` trains on."""

    maps: np.ndarray  # (N, C, h, w) float16 trunk maps of the posts
    network: object  # the embedder's network, whose last ``blocks`` stages each fold copies and tunes
    blocks: int


@dataclass
class TopUp:
    """A rebuild that predicts its new posts with the existing heads instead of training."""

    new_rows: np.ndarray  # (n,) positions in this run's posts of the posts the store lacks
    removed: np.ndarray  # (m,) post ids in the store that are gone
    changed_share: float


def top_up_plan(
    folder: Path, posts: FoldedPosts, units: np.ndarray, tag_names: list[str], meta: dict, cfg
) -> tuple[TopUp | None, str]:
    """A top-up when the last run's store and heads can serve this one, else (None, why not).
    ``posts.fold`` keeps every old post's fold (its prediction stands); units (N,) is each post's
    unit (duplicate group, family); ``meta`` is what this run's store would record."""
    post_ids, fold, fingerprints = posts.post_ids, posts.fold, posts.fingerprints
    if cfg.retrain_after_change <= 0:
        return None, "retrain_after_change = 0"
    if not (folder / "meta.json").is_file():
        return None, "no earlier heads"
    if not (folder / LABELS_AT_TRAINING).is_file():
        return None, "the last training kept no label fingerprints (an older version)"
    store = PredictionStore(folder)
    optional = {"training", "finetune"} & set(store.meta)  # recorded only when set: dropping one is a change too
    differ = [k for k in [*meta, *sorted(optional - set(meta))] if k != "warm_folds" and store.meta.get(k) != meta.get(k)]
    if differ:
        return None, f"{', '.join(differ)} changed"
    unknown = set(tag_names) - set(store.tags)  # their heads' rows do not exist yet: they wait for the next training
    if len(unknown) > cfg.retrain_after_change * len(tag_names):
        return None, f"{len(unknown)} new label tags (retrain_after_change {cfg.retrain_after_change:g})"
    stored = store.post_ids
    new = ~np.isin(post_ids, stored)
    for k in range(meta["folds"]):
        kept = [head_path(folder, k), trained_path(folder, k)] + ([context_path(folder, k)] if meta.get("context_weight") else [])
        if not all(path.is_file() for path in kept):
            return None, "some earlier heads are missing"
        # a new post's duplicates and family share its unit: its head must not have trained on them
        scored = (fold == k) & ~new | np.isin(units, units[(fold == k) & new])
        if np.isin(post_ids[scored], np.load(trained_path(folder, k))).any():
            return None, f"fold {k} would score posts (or duplicates of new posts) its head trained on"
    if unknown:  # a new tag's carriers are not relabelled as far as the heads are concerned
        fingerprints = label_fingerprints(tag_names, posts.indptr, posts.indices, posts.ratings, set(store.tags))
    with np.load(folder / LABELS_AT_TRAINING) as then:
        then_ids, then_prints = then["post_ids"], then["fingerprints"]
    order = np.argsort(then_ids)
    at = np.searchsorted(then_ids[order], post_ids)
    found = at < len(then_ids)
    found[found] = then_ids[order][at[found]] == post_ids[found]
    relabelled = int((then_prints[order][at[found]] != fingerprints[found]).sum())
    gone = len(then_ids) - int(found.sum())
    share = (int((~found).sum()) + gone + relabelled) / max(len(then_ids), 1)
    if share > cfg.retrain_after_change:
        return None, (
            f"{share:.1%} of posts new, removed or relabelled since the heads trained "
            f"(retrain_after_change {cfg.retrain_after_change:g})"
        )
    return TopUp(np.flatnonzero(new), stored[~np.isin(stored, post_ids)], share), ""


def top_up(folder: Path, plan: TopUp, posts: FoldedPosts, tag_names: list[str], device: str) -> None:
    """Predict ``plan.new_rows`` with their folds' heads, blend in the other folds' evidence, and
    append them to the store with ``plan.removed`` dropped. The labels (over ``tag_names``) are
    mapped to the store's columns for the evidence; tags the heads do not know get no column
    until the next training."""
    store = PredictionStore(folder)
    columns = {t: j for j, t in enumerate(store.tags)}
    vectors, fold = posts.vectors, posts.fold
    mapped = np.array([columns.get(t, -1) for t in tag_names], dtype=np.int64)[posts.indices]
    known = mapped >= 0  # labels of tags new since the heads trained are left out of the evidence
    entry_rows = np.repeat(np.arange(len(posts.post_ids)), np.diff(posts.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(entry_rows[known], minlength=len(posts.post_ids)))])
    indices = mapped[known]
    probabilities = np.zeros((len(plan.new_rows), len(columns)), np.float16)
    ratings = np.zeros((len(plan.new_rows), len(RATINGS)), np.float16)
    for k in np.unique(fold[plan.new_rows]).tolist():
        at = np.flatnonzero(fold[plan.new_rows] == k)
        model = head_model(load_head(head_path(folder, k)), store.tags, device, posts.features())
        context = LabelContext.load(context_path(folder, k))  # fitted with the head: a top-up refits nothing
        beside = FoldEvidence(
            vectors, indptr, indices, len(columns), np.flatnonzero(fold != k), posts.group, posts.evidence, context
        )
        for rows, p, rating in predict(model, posts.inputs, plan.new_rows[at], _predict_batch(posts), device):
            where = at[np.searchsorted(plan.new_rows[at], rows)]
            probabilities[where] = beside.blend(rows, p).astype(np.float16)
            ratings[where] = rating
    if len(plan.new_rows) or len(plan.removed):
        store.append(posts.post_ids[plan.new_rows], probabilities, ratings, plan.removed)


def run_train(workspace: Where) -> TrainReport:
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.tagger
    device = pick_device(cfg.device)
    options = TrainOptions.from_config(cfg, seed=config.split.seed)
    started = time.perf_counter()
    with ctx.staged("taggers", "tagger_folds") as cat:
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
        tuning = None
        if cfg.finetune:
            has, vectors, tuning = _tuning(ctx, cat, data, has, vectors, device)
            report.posts = int(has.sum())
        post_ids = data.post_ids[has]
        keep = np.flatnonzero(has)
        indptr = np.concatenate([[0], np.cumsum(np.diff(data.indptr)[keep])])
        indices = data.indices[csr_entries(data.indptr, keep)[1]]
        ratings = data.ratings[keep]
        folder = tagger_folder(workspace, OUR_TAGGER)
        split, before = config.split, previous_folds(cat, folder, cfg.folds)
        fold = assign_folds(cat, post_ids, cfg.folds, split.seed, split.group_by_artist, split.min_tag_posts, before)
        group = duplicate_group_of(cat, post_ids)
        evidence = EvidenceOptions.from_config(cfg)
        tag_names = data.tags["name"].to_list()
        meta = {
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
            "context_weight": cfg.context_weight,
            "version": TAGGER_VERSION,
        }
        training = {k: getattr(cfg, k) for k in TRAINING_KEYS if getattr(cfg, k) != getattr(_DEFAULT_TAGGER, k)}
        if training:  # only what differs from the defaults, so that stores written before these keys still match
            meta["training"] = training
        if cfg.finetune:  # absent otherwise, so that stores written before the setting existed still match
            meta["finetune"] = {
                "blocks": cfg.finetune_blocks,
                "epochs": cfg.finetune_epochs,
                "learning_rate": cfg.finetune_learning_rate,
            }
        fingerprints = label_fingerprints(tag_names, indptr, indices, ratings)
        posts = FoldedPosts(post_ids, vectors, indptr, indices, ratings, fold, group, fingerprints, evidence, tuning)
        # a top-up moves no old post: a unit merged since keeps its posts' folds until the next training
        kept = dataclasses.replace(posts, fold=np.array([before.get(p, f) for p, f in zip(post_ids.tolist(), fold.tolist())]))
        units = post_units(cat, post_ids, split.group_by_artist)
        plan, report.why_trained = top_up_plan(folder, kept, units, tag_names, meta, cfg)
        if plan is not None:
            fold = kept.fold
            top_up(folder, plan, kept, tag_names, device)
            report.mode, report.changed_share = "topped up", plan.changed_share
            report.new_posts, report.removed_posts = len(plan.new_rows), len(plan.removed)
            log.info(
                "kept the heads (%.1f%% of posts changed since they trained): predicted %d new posts, %d removed",
                100 * plan.changed_share,
                report.new_posts,
                report.removed_posts,
            )
        else:
            log.info("training heads: %s", report.why_trained)
            _train_folds(folder, report, posts, tag_names, meta, cfg, options, device)
        frame = pl.DataFrame({"post_id": post_ids, "fold": fold})
        with cat.registered("new_folds", frame.to_arrow()):
            cat.con.execute("DELETE FROM tagger_folds; INSERT INTO tagger_folds SELECT post_id, fold FROM new_folds")
        register(cat, workspace, OUR_TAGGER, "kfold-head", folder, len(post_ids), report.tags)
    report.seconds = time.perf_counter() - started
    report.folder = folder
    return report


def _tuning(ctx, cat: Catalog, data: LabelledPosts, has: np.ndarray, vectors: np.ndarray, device: str):
    """``[tagger] finetune``: the trunk maps of the posts with embeddings (computed for files
    that have none yet). Returns (has, vectors, Tuning) narrowed to the posts that have both."""
    cfg, embed_cfg = ctx.config.tagger, ctx.config.embed
    if device == "cpu" and int(has.sum()) > cfg.finetune_max_cpu_posts:
        raise ConfigError(
            f"[tagger] finetune = true on the CPU is for boards up to finetune_max_cpu_posts = "
            f"{cfg.finetune_max_cpu_posts} posts; this one has {int(has.sum())}. Fine-tune on a CUDA GPU "
            "(device = 'auto' picks it), raise the limit knowing it costs about 50 s an epoch a fold per "
            "4,000 posts on 2 cores (docs/tagger.md), or set finetune = false"
        )
    backbone = load_backbone(embed_cfg, device)
    md5s = [data.md5[i] for i in np.flatnonzero(has)]
    paths = dict(cat.rows("SELECT file_md5, min(path) FROM images WHERE file_md5 IS NOT NULL GROUP BY file_md5"))
    found, maps = trunk_maps(ctx.workspace, embed_cfg, backbone, cfg.finetune_blocks, md5s, [paths.get(m) or "" for m in md5s])
    if not found.all():
        log.warning("%d posts have no trunk maps (their files did not read); they get no predictions", int((~found).sum()))
        narrowed = has.copy()
        narrowed[np.flatnonzero(has)[~found]] = False
        has, vectors = narrowed, vectors[found]
    return has, vectors, Tuning(maps, backbone.network, cfg.finetune_blocks)


def _train_folds(
    folder: Path,
    report: TrainReport,
    posts: FoldedPosts,
    tag_names: list[str],
    meta: dict,
    cfg,
    options: TrainOptions,
    device: str,
) -> None:
    """Train every fold's head (warm where leak-free) and write a new store of their predictions."""
    post_ids, vectors, indptr, indices, fold = posts.post_ids, posts.vectors, posts.indptr, posts.indices, posts.fold
    warm, report.cold_reason = warm_starts(folder, post_ids, fold, tag_names, meta, cfg)
    report.warm_folds = len(warm)
    if report.cold_reason:
        log.info("heads from scratch where not warm-started: %s", report.cold_reason)
    warm_options = dataclasses.replace(options, epochs=cfg.warm_start_epochs)
    # the store holds the posts fold by fold, so that each fold's predictions are one contiguous
    # run of every tag row: written once, not a scatter that dirties every page once per fold
    order = np.argsort(fold, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    store_meta = {**meta, "warm_folds": sorted(warm)}
    with (
        building(folder, post_ids[order], tag_names, cfg.chunk_tags, store_meta, fill=False) as store,
        progress(f"train {cfg.folds}-fold {cfg.head} heads ({device}, {len(warm)} warm)", cfg.folds) as advance,
    ):
        for k in range(cfg.folds):
            held_out, training = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
            start = (warm[k][0], tag_names) if k in warm else None
            model = train_head(
                posts.inputs,
                indptr,
                indices,
                posts.ratings,
                training,
                report.tags,
                warm_options if start else options,
                device,
                start,
                posts.features(),
                held_out,
            )
            save_head(model, head_path(store.folder, k), tag_names, options)
            earlier = warm[k][1] if k in warm else np.zeros(0, np.int64)
            np.save(trained_path(store.folder, k), np.union1d(earlier, post_ids[training]))
            context = None
            if posts.evidence.context_weight > 0:
                context = fit_label_context(indptr, indices, training, report.tags, seed=options.seed + k)
                context.save(context_path(store.folder, k))
            beside = FoldEvidence(vectors, indptr, indices, report.tags, training, posts.group, posts.evidence, context)
            for rows, probabilities, rating in predict(model, posts.inputs, held_out, _predict_batch(posts), device):
                store.write(position[rows], beside.blend(rows, probabilities).astype(np.float16), rating)
            advance(1)
        np.savez(store.folder / LABELS_AT_TRAINING, post_ids=post_ids, fingerprints=posts.fingerprints)
