"""``curate evaluate tagger``: metrics of one or several prediction sets on the same posts.

Labels are the posts' current label tags (the catalog's, after canonicalisation). One tagger:
every post it predicted (out-of-fold for our heads), or only a split's posts. Several: only the
posts all of them predicted (within the chosen split) and only the tags all of them know that
at least ``min_posts`` of those posts carry -- the validation-arena comparison -- plus an
``ensemble`` averaging them. Each run can save every tagger's predictions on those posts and
the post ids, so that the comparison can be reproduced elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import open_catalog
from ..config import load_config
from ..errors import CurationError, StageNotRun
from .heads import RATINGS, dense_labels
from .metrics import MicroCounts, Summary, confusion_matrix, per_tag_table, summarise
from .store import PredictionStore, open_recorded
from .train import labelled_posts


@dataclass
class TaggerScore:
    name: str
    overall: Summary
    slices: dict[str, Summary]  # popular, rare, and one per tag category
    per_tag: pl.DataFrame
    rating_accuracy: float | None = None
    rating_confusion: np.ndarray | None = None  # (4, 4), rows the true rating (g s q e)
    curve: dict[str, list[float]] | None = None  # micro precision and recall at thresholds 0.02..0.98


def _stores(cat, names: list[str] | None) -> dict[str, PredictionStore]:
    known = dict(cat.rows("SELECT name, folder FROM taggers ORDER BY made_at"))
    if not known:
        raise StageNotRun("no predictions yet; run `curate train` or `curate score` first")
    names = names or list(known)
    missing = [n for n in names if n not in known]
    if missing:
        raise CurationError(f"no tagger named {', '.join(missing)}; known: {', '.join(known)}")
    return {n: open_recorded(cat.path.parent, known[n]) for n in names}


def evaluate_taggers(
    workspace: Path | str, names: list[str] | None = None, split: str | None = None, save: Path | None = None
) -> list[TaggerScore]:
    workspace = Path(workspace)
    cfg = load_config(workspace).tagger
    with open_catalog(workspace, read_only=True) as cat:
        stores = _stores(cat, names)
        data = labelled_posts(cat)
        in_split = None
        if split:
            if not cat.has_table("splits"):
                raise StageNotRun(f"{workspace}: no split yet; run `curate split {workspace}` first")
            in_split = {r[0] for r in cat.rows("SELECT post_id FROM splits WHERE split = ?", [split])}
    position = {int(p): i for i, p in enumerate(data.post_ids)}
    # posts every tagger predicted (and in the split), tags every tagger knows
    common = set(position)
    for store in stores.values():
        common &= set(store.post_ids.tolist())
    if in_split is not None:
        common &= in_split
    posts = np.array(sorted(common), dtype=np.int64)
    if not len(posts):
        raise CurationError("no post is predicted by every tagger" + (f" in split {split!r}" if split else ""))
    names_common = set(data.tags["name"].to_list())
    for store in stores.values():
        names_common &= set(store.tags)
    rows = np.array([position[int(p)] for p in posts])
    y_all = dense_labels(data.indptr, data.indices, rows, data.tags.height).astype(bool)
    tag_table = data.tags.filter(pl.col("name").is_in(sorted(names_common)))
    columns = tag_table["idx"].to_numpy()
    enough = y_all[:, columns].sum(axis=0) >= (cfg.min_posts if len(stores) > 1 else 1)
    tag_table, columns = tag_table.filter(pl.Series(enough)), columns[enough]
    y = y_all[:, columns]
    scored: dict[str, np.ndarray] = {}
    for name, store in stores.items():
        mine = {int(p): i for i, p in enumerate(store.post_ids)}
        their_cols = {t: i for i, t in enumerate(store.tags)}
        p = store.dense(np.array([mine[int(x)] for x in posts]), np.array([their_cols[t] for t in tag_table["name"]]))
        scored[name] = np.nan_to_num(p, nan=0.0)
    if len(scored) > 1:
        scored["ensemble"] = np.mean(list(scored.values()), axis=0)
    if save:
        save.mkdir(parents=True, exist_ok=True)
        np.save(save / "post_ids.npy", posts)
        tag_table.write_csv(save / "tags.csv")
        for name, p in scored.items():
            np.save(save / f"{name.replace(':', '_').replace('/', '_')}.npy", p.astype(np.float16))
    out = []
    for name, p in scored.items():
        score = _score(name, y, p, tag_table, cfg.threshold, cfg.rare_from_rank)
        if name in stores and stores[name].rating() is not None:
            mine = {int(x): i for i, x in enumerate(stores[name].post_ids)}
            rating = np.asarray(stores[name].rating())[[mine[int(x)] for x in posts]].astype(np.float32)
            truth = data.ratings[rows]
            known = (truth >= 0) & ~np.isnan(rating).any(axis=1)
            if known.any():
                guess = rating[known].argmax(axis=1)
                score.rating_accuracy = float((guess == truth[known]).mean())
                score.rating_confusion = confusion_matrix(truth[known], guess, len(RATINGS))
        out.append(score)
    return out


def _score(name: str, y: np.ndarray, p: np.ndarray, tags: pl.DataFrame, threshold: float, rare_from: int) -> TaggerScore:
    table = per_tag_table(y, p, threshold)
    per_tag = tags.select("name", "category", "idx").with_columns(*(pl.Series(k, v) for k, v in table.items()))
    slices = {}
    rank = tags["idx"].to_numpy()
    for label, mask in [("popular", rank < rare_from), ("rare", rank >= rare_from)] + [
        (str(c), (tags["category"] == c).to_numpy()) for c in sorted(tags["category"].unique().to_list())
    ]:
        if mask.any():
            slices[label] = summarise(y[:, mask], p[:, mask], threshold)
    thresholds = np.round(np.arange(0.02, 0.99, 0.02), 2)
    precision, recall = [], []
    counts = MicroCounts(y, p)
    for t in thresholds:
        tp, fp, fn, _ = counts(float(t))
        precision.append(tp / (tp + fp) if tp + fp else 1.0)
        recall.append(tp / (tp + fn) if tp + fn else 0.0)
    return TaggerScore(
        name,
        summarise(y, p, threshold),
        slices,
        per_tag,
        curve={"threshold": thresholds.tolist(), "precision": precision, "recall": recall},
    )
