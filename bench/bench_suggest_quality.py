"""Benchmark: how much of what the tagger knows reaches the suggestion queue (issue: suggestions
moderators can trust).

For each workspace (a synthetic board with images run through `curate train` and `curate
suggest` with their defaults):

- the default tagger's out-of-fold macro AP on the general label tags, against the board's
  true tags (what the pictures show), beside a plain reference trained here on the same
  embeddings and folds: one hidden layer of 512, BCE, 30 epochs (``heads.train_head``);
- the tagger's plain ranking of the planted label noise: unlabelled (post, tag) pairs by p for
  missing tags (add), labelled pairs by 1 - p for wrong tags (remove), its AP;
- the queue's AP and precision@100 per action, against the same planted noise.

    python bench/bench_suggest_quality.py WS:TRUTH [WS:TRUTH ...] [--no-reference]

Prints one JSON document: per board and the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl


def average_precision(scores: np.ndarray, hits: np.ndarray) -> float:
    """AP of ranking ``scores`` (higher first) against boolean ``hits``."""
    if not hits.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    ranked = hits[order]
    precision = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)
    return float(precision[ranked].sum() / ranked.sum())


def board(ws: Path, truth: Path, reference: bool) -> dict:
    from curation.catalog import open_catalog
    from curation.config import load_config
    from curation.embed.stage import configured_embedder_id, load_vectors
    from curation.evaluate.suggest import evaluate_suggestions
    from curation.tagger.heads import TrainOptions, predict, train_head
    from curation.tagger.store import open_recorded
    from curation.tagger.train import labelled_posts

    config = load_config(ws)
    with open_catalog(ws, read_only=True) as cat:
        folder = cat.scalar("SELECT folder FROM taggers WHERE name = 'kfold-heads'")
        folds = dict(cat.rows("SELECT post_id, fold FROM tagger_folds"))
        data = labelled_posts(cat)
        has, vectors = load_vectors(ws, cat, configured_embedder_id(config.embed), data.md5)
    store = open_recorded(ws, folder)
    post_ids, tag_names = store.post_ids, store.tags
    general = set(pl.read_parquet(truth / "tags.parquet").filter(pl.col("category") == "general")["name"])
    columns = np.array([j for j, t in enumerate(tag_names) if t in general])
    probs = store.dense(np.arange(len(post_ids)), columns)  # (N, K) out-of-fold
    names = [tag_names[j] for j in columns]
    true = dict(pl.read_parquet(truth / "posts.parquet").select("post_id", "true_tags").iter_rows())
    truth_matrix = np.array([[t in set(true.get(int(p), [])) for t in names] for p in post_ids], dtype=bool)
    row_of = {int(p): i for i, p in enumerate(data.post_ids)}
    label_index = {n: int(i) for n, i in zip(data.tags["name"], data.tags["idx"])}
    labels = np.zeros_like(truth_matrix)
    col_of = {label_index[t]: c for c, t in enumerate(names) if t in label_index}
    for r, p in enumerate(post_ids):
        i = row_of[int(p)]
        for idx in data.indices[data.indptr[i] : data.indptr[i + 1]]:
            if int(idx) in col_of:
                labels[r, col_of[int(idx)]] = True
    macro = lambda m: float(np.nanmean([average_precision(m[:, k], truth_matrix[:, k]) for k in range(m.shape[1])]))  # noqa: E731
    out = {"posts": len(post_ids), "general_label_tags": len(names), "default_tagger_macro_ap": round(macro(probs), 4)}
    if reference:
        keep = np.flatnonzero(has)
        ids = data.post_ids[keep]
        position = {int(p): i for i, p in enumerate(ids)}
        indptr = np.concatenate([[0], np.cumsum(np.diff(data.indptr)[keep])])
        from curation.tagger.heads import csr_entries

        indices = data.indices[csr_entries(data.indptr, keep)[1]]
        fold = np.array([folds[int(p)] for p in ids])
        oof = np.zeros((len(ids), data.tags.height), dtype=np.float32)
        started = time.perf_counter()
        options = TrainOptions(head="mlp", hidden=512, epochs=30, prior_weighted_loss=False)
        for k in sorted(set(fold.tolist())):
            model = train_head(vectors, indptr, indices, data.ratings[keep], np.flatnonzero(fold != k), data.tags.height, options)
            for rows, p, _ in predict(model, vectors, np.flatnonzero(fold == k)):
                oof[rows] = p
        reference_probs = oof[[position[int(p)] for p in post_ids]][:, [label_index[t] for t in names]]
        out["reference_macro_ap"] = round(macro(reference_probs), 4)
        out["reference_train_s"] = round(time.perf_counter() - started, 1)
    noise = pl.read_parquet(truth / "label_noise.parquet")
    planted = {(int(p), t, c) for p, t, c in noise.iter_rows()}
    r_of = {int(p): i for i, p in enumerate(post_ids)}
    c_of = {t: c for c, t in enumerate(names)}
    missing = np.zeros_like(labels)
    wrong = np.zeros_like(labels)
    for p, t, c in planted:
        if p in r_of and t in c_of:
            (missing if c == "missing" else wrong)[r_of[p], c_of[t]] = True
    out["plain_add_ap"] = round(average_precision(probs[~labels], missing[~labels]), 4)
    out["plain_remove_ap"] = round(average_precision(1 - probs[labels], wrong[labels]), 4)
    for s in evaluate_suggestions(ws, truth):
        if s.band == "all":
            out[f"queue_{s.action}_ap"] = round(s.average_precision, 4)
            out[f"queue_{s.action}_p_at_100"] = round(s.precision_at[100], 3)
            out[f"queue_{s.action}_recall"] = round(s.recall, 3)
    out.update(calibration_and_orders(ws, planted))
    return out


def calibration_and_orders(ws: Path, planted: set) -> dict:
    """How honest the precision estimates are (estimated vs real precision of the shown suggestions,
    by estimate band), and the queue's AP if it were ranked by cleanlab's label quality instead."""
    from curation.catalog import open_catalog
    from curation.evaluate.suggest import ranked_scores

    with open_catalog(ws, read_only=True) as cat:
        shown = cat.frame_sql("SELECT rank, post_id, tag, action, precision_estimate, label_quality FROM suggestions")
    change = {"add": "missing", "remove": "wrong"}
    right = np.array([(p, t, change[a]) in planted for p, t, a in shown.select("post_id", "tag", "action").iter_rows()])
    shown = shown.with_columns(pl.Series("right", right))
    out = {}
    for action in ("add", "remove"):
        mine = shown.filter(pl.col("action") == action)
        bands = []
        for lo, hi in ((0.0, 0.7), (0.7, 0.9), (0.9, 1.01)):
            band = mine.filter((pl.col("precision_estimate") >= lo) & (pl.col("precision_estimate") < hi))
            if band.height:
                bands.append(
                    f"[{lo:.1f},{min(hi, 1):.1f}): n={band.height} est={band['precision_estimate'].mean():.2f} "
                    f"real={band['right'].mean():.2f}"
                )
        out[f"calibration_{action}"] = bands
        planted_here = sum(1 for x in planted if x[2] == change[action])
        for order, column in (("queue order", "rank"), ("by label quality", "label_quality")):
            hits = mine.sort(column)["right"].to_numpy()
            out.setdefault(f"orders_{action}", {})[order] = round(ranked_scores(hits, planted_here)[1], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("boards", nargs="+", help="WORKSPACE:TRUTH_DIR pairs")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    results = {}
    for pair in args.boards:
        ws, truth = pair.split(":")
        results[ws] = board(Path(ws), Path(truth), not args.no_reference)
    keys = [k for k, v in next(iter(results.values())).items() if k != "posts" and isinstance(v, (int, float))]
    medians = {k: round(statistics.median(r[k] for r in results.values()), 4) for k in keys}
    print(json.dumps({"boards": results, "medians": medians}, indent=1))


if __name__ == "__main__":
    main()
