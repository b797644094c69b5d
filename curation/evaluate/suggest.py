"""Suggestions scored against a synthetic board's planted label noise.

A planted ``missing`` tag (left out of the dump) should come back as an ``add``, a planted
``wrong`` tag (added to the dump) as a ``remove``. Only plants that suggestions could reach
count: the post was predicted and the tag is one suggestions were made for (in the tagger's
tags, with enough posts). Per action: precision at k over the ranked list, recall, and the
average precision of the ranking (IR style: plants never suggested count as misses); and by
tag-frequency band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import open_catalog
from ..config import load_config
from ..errors import StageNotRun
from ..tags import canonicaliser
from .ingest import read_truth

BANDS = ((0, 100, "top 100 tags"), (100, 1000, "tags 100-999"), (1000, 10**9, "tags 1000+"))


@dataclass(frozen=True)
class SuggestScore:
    action: str  # add | remove
    band: str
    planted: int
    suggested: int
    found: int
    precision_at: dict[int, float]
    average_precision: float

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else float("nan")


def ranked_scores(hits: np.ndarray, planted: int, ks=(10, 100)) -> tuple[dict[int, float], float]:
    """hits : (M,) bool, the ranked list's correctness -> (precision at each k, average precision)."""
    precision_at = {k: float(hits[:k].mean()) if len(hits) else float("nan") for k in ks}
    if not planted:
        return precision_at, float("nan")
    cumulative = np.cumsum(hits)
    ap = float(np.sum((cumulative / np.arange(1, len(hits) + 1))[hits]) / planted) if len(hits) else 0.0
    return precision_at, ap


def evaluate_suggestions(workspace: Path | str, truth_dir: Path | str, ks=(10, 100)) -> list[SuggestScore]:
    noise = read_truth(Path(truth_dir), "label_noise")
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("suggestions"):
            raise StageNotRun(f"{workspace}: no suggestions yet; run `curate suggest {workspace}` first")
        suggestions = pl.from_arrow(
            cat.con.sql("SELECT rank, post_id, tag, action FROM suggestions ORDER BY rank").to_arrow_table()
        )
        tags = {r[0] for r in cat.rows("SELECT name FROM suggest_scope_tags")}
        posts = {r[0] for r in cat.rows("SELECT post_id FROM suggest_scope_posts")}
        canonical = canonicaliser(cat)
        rank_of_tag = {n: i for i, (n,) in enumerate(cat.rows("SELECT name FROM selected_tags ORDER BY count DESC, name"))}
    planted = {
        (int(p), canonical(t), "add" if c == "missing" else "remove")
        for p, t, c in noise.select("post_id", "tag", "change").iter_rows()
    }
    planted = {x for x in planted if x[0] in posts and x[1] in tags}
    out = []
    for action in ("add", "remove"):
        for lo, hi, band in ((0, 10**9, "all"),) + BANDS:
            in_band = {x for x in planted if x[2] == action and lo <= rank_of_tag.get(x[1], 10**9) < hi}
            ranked = suggestions.filter(
                (pl.col("action") == action)
                & pl.col("tag").map_elements(
                    lambda t, lo=lo, hi=hi: lo <= rank_of_tag.get(t, 10**9) < hi, return_dtype=pl.Boolean
                )
            )
            hits = np.array([(p, t, action) in in_band for p, t in ranked.select("post_id", "tag").iter_rows()], dtype=bool)
            precision_at, ap = ranked_scores(hits, len(in_band), ks)
            out.append(SuggestScore(action, band, len(in_band), ranked.height, int(hits.sum()), precision_at, ap))
    return out


def plain_ranking_ap(workspace: Path | str, truth_dir: Path | str) -> dict[str, float]:
    """The ceiling the queue is measured against: the AP of ranking the planted label noise by the
    suggest tagger's probabilities alone, over the same posts and tags as the queue (the
    suggestion scope). ``add``: every unlabelled (post, tag) pair by p; ``remove``: every labelled
    pair by 1 - p. Exact on the store's float16 values, counted per value (memory O(65,536),
    whatever the board's size); tied scores are one step, as in scikit-learn."""
    from ..tagger.store import open_recorded
    from ..tagger.train import labelled_posts

    noise = read_truth(Path(truth_dir), "label_noise")
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("suggest_scope_tags"):
            raise StageNotRun(f"{workspace}: no suggestions yet; run `curate suggest {workspace}` first")
        folder = cat.scalar("SELECT folder FROM taggers WHERE name = ?", [load_config(workspace).suggest.tagger])
        scope_tags = [r[0] for r in cat.rows("SELECT name FROM suggest_scope_tags")]
        data = labelled_posts(cat)
        canonical = canonicaliser(cat)
    store = open_recorded(workspace, folder)
    position = {int(p): i for i, p in enumerate(store.post_ids)}
    label_row = {int(p): i for i, p in enumerate(data.post_ids)}
    rows_in_store = np.array([label_row.get(int(p), -1) for p in store.post_ids])
    name_to_idx = {n: int(i) for n, i in zip(data.tags["name"], data.tags["idx"])}
    planted: dict[tuple[str, str], list[int]] = {}
    for p, t, c in noise.select("post_id", "tag", "change").iter_rows():
        if int(p) in position:
            planted.setdefault(("add" if c == "missing" else "remove", canonical(t)), []).append(position[int(p)])
    entry_rows = np.repeat(np.arange(len(data.post_ids)), np.diff(data.indptr))
    by_idx = np.argsort(data.indices, kind="stable")
    bounds = np.searchsorted(data.indices[by_idx], np.arange(len(data.tags) + 1))
    counts = {a: np.zeros((2, 65536), dtype=np.int64) for a in ("add", "remove")}  # [not planted, planted] per float16 value
    column = {t: j for j, t in enumerate(store.tags)}
    for tag in scope_tags:
        j, idx = column.get(tag), name_to_idx.get(tag)
        if j is None or idx is None:
            continue
        scores = np.asarray(store.scores(j), dtype=np.float16)
        has = np.zeros(len(data.post_ids) + 1, dtype=bool)  # the extra last entry answers row -1: not labelled
        has[entry_rows[by_idx[bounds[idx] : bounds[idx + 1]]]] = True
        labelled = has[rows_in_store]
        keys = scores.view(np.uint16)
        for action, pool in (("add", ~labelled), ("remove", labelled)):
            hit = np.zeros(len(scores), dtype=bool)
            hit[planted.get((action, tag), [])] = True
            np.add.at(counts[action], (hit[pool].astype(np.int64), keys[pool]), 1)
    out = {}
    for action, table in counts.items():
        values = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float64)
        present = table.sum(axis=0) > 0
        order = np.argsort(values[present])  # ascending p
        if action == "add":
            order = order[::-1]  # add: highest p first; remove: lowest p first
        hits, total = table[1][present][order], table.sum(axis=0)[present][order]
        planted_total = hits.sum()
        if not planted_total:
            out[action] = float("nan")
            continue
        tp, seen = np.cumsum(hits), np.cumsum(total)
        out[action] = float(np.sum(hits / planted_total * tp / seen))
    return out


def oracle_probabilities(workspace: Path | str, truth_dir: Path | str, seed: int = 0, strength: float = 8.0, chunk: int = 10_000):
    """A benchmark tagger that knows the truth, blurred: for every selected post with a usable
    file and every label tag, a probability drawn from Beta(strength, 2) when the board's true
    tags hold the tag and from Beta(1, strength) when not.

    Returns (post_ids (N,), tag names (K,), an iterator of (rows, (B, K) float32)) in chunks of
    ``chunk`` posts, so that N x K never has to be one array."""
    truth = pl.read_parquet(Path(truth_dir) / "posts.parquet").select("post_id", "true_tags")
    with open_catalog(workspace, read_only=True) as cat:
        posts = np.array([r[0] for r in cat.run("marts/tagger_posts").fetchall()], dtype=np.int64)
        tags = [r[0] for r in cat.rows("SELECT name FROM selected_tags ORDER BY count DESC, name")]
        canonical = canonicaliser(cat)
    true = {int(p): {canonical(t) for t in ts} for p, ts in truth.iter_rows()}
    column = {t: j for j, t in enumerate(tags)}

    def chunks():
        rng = np.random.default_rng(seed)
        for start in range(0, len(posts), chunk):
            rows = np.arange(start, min(start + chunk, len(posts)))
            y = np.zeros((len(rows), len(tags)), dtype=bool)
            for i, post in enumerate(posts[rows].tolist()):
                for t in true.get(post, ()):
                    if t in column:
                        y[i, column[t]] = True
            yield rows, np.where(y, rng.beta(strength, 2.0, y.shape), rng.beta(1.0, strength, y.shape)).astype(np.float32)

    return posts, tags, chunks()


def oracle_predictions(workspace: Path | str, truth_dir: Path | str, out: Path, seed: int = 0, strength: float = 8.0) -> Path:
    """The oracle tagger of :func:`oracle_probabilities` as a parquet (``post_id``, list column
    ``probabilities``) plus ``<out>.tags.csv``, for `curate score --predictions`: what suggestions
    reach with near-perfect probabilities (a ceiling for the method, apart from the tagger)."""
    posts, tags, chunks = oracle_probabilities(workspace, truth_dir, seed, strength)
    p = np.concatenate([probabilities for _, probabilities in chunks]) if len(posts) else np.zeros((0, len(tags)), np.float32)
    frame = pl.DataFrame(
        {"post_id": posts, "probabilities": list(p)}, schema={"post_id": pl.Int64, "probabilities": pl.List(pl.Float32)}
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out)
    pl.DataFrame({"name": tags}).write_csv(out.with_suffix(".tags.csv"))
    return out
