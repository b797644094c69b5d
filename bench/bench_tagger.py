"""Benchmark: the tagger on a synthetic board, and K-fold training time at 100k x 2k.

Quality (``--posts``, default 20,000): a synthetic board with 256-px images through ingest ->
select (tags with 10+ posts) -> images -> embed (the offline default embedder, at
``--image-size`` px to keep the run short) -> dedupe -> train (the default heads and evidence)
-> suggest (timed: train + suggest is the suggestion issue's time target) -> evaluate; prints
macro AP and micro F1 at P=R overall and per category, against the board's labels (with their
planted noise, as a real board's).

Speed (``--speed``): ``train_head``, the label-context fit and ``predict`` for 5 folds on
100,000 x 1,280 float16 embeddings and 2,000 Zipf-distributed tags (synthetic arrays: the
compute of `curate train` without the board), timed; median of ``--repeats``.

    python bench/bench_tagger.py [--posts 20000] [--image-size 160] [--speed] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import curate


def quality(posts: int, image_size: int, keep: Path | None) -> dict:
    from curation.tagger.evaluate import evaluate_taggers

    work = keep or Path(tempfile.mkdtemp(prefix="bench_tagger_"))
    board, ws = work / "board", work / "ws"
    timings = {}
    if not (ws / "catalog.duckdb").exists():
        curate("synth", str(board), "--posts", str(posts), "--image-size", "256", "--overwrite")
        curate("init", str(ws), "--source", str(board))
        text = (ws / "curate.toml").read_text()
        text = text.replace("[select]\n", "[select]\nmin_tag_count = 10\n")
        (ws / "curate.toml").write_text(text.replace("[embed]\n", f"[embed]\nimage_size = {image_size}\n"))
        for stage in ("ingest", "select", "images", "embed", "dedupe"):
            started = time.perf_counter()
            curate(stage, str(ws))
            timings[stage] = round(time.perf_counter() - started, 1)
    for stage in ("train", "suggest"):  # train + suggest: the "< 10 minutes at 20,000 posts"
        started = time.perf_counter()
        curate(stage, str(ws))
        timings[stage] = round(time.perf_counter() - started, 1)
    timings["train_plus_suggest"] = round(timings["train"] + timings["suggest"], 1)
    [score] = evaluate_taggers(ws, ["kfold-heads"])
    rows = {"all": score.overall, **score.slices}
    return {
        "posts": posts,
        "image_size": image_size,
        "stage_seconds": timings,
        "workspace": str(ws),
        "rating_accuracy": score.rating_accuracy,
        "slices": {
            k: {
                "tags": v.tags,
                "macro_ap": round(v.macro_ap, 3),
                "micro_f1_at_pr": round(v.f1_at_pr, 3),
                "pr_threshold": round(v.pr_threshold, 3),
                "mcc_at_pr": round(v.mcc_at_pr, 3),
            }
            for k, v in rows.items()
        },
    }


def speed(repeats: int, n: int = 100_000, dim: int = 1280, tags: int = 2000, folds: int = 5) -> dict:
    import torch

    from curation.tagger.evidence import EvidenceOptions, FoldEvidence
    from curation.tagger.heads import TrainOptions, predict, train_head, training_plan
    from curation.tagger.label_context import fit_label_context

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)  # stored embeddings are unit length
    popularity = 1.0 / np.arange(1, tags + 1) ** 0.8
    per_post = rng.poisson(20, n).clip(1, 80)
    rows = np.repeat(np.arange(n), per_post)
    cols = rng.choice(tags, size=len(rows), p=popularity / popularity.sum())
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    keep = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    rows, cols = rows[keep], cols[keep]
    indptr = np.searchsorted(rows, np.arange(n + 1))
    ratings = rng.integers(0, 4, n).astype(np.int8)
    fold = rng.integers(0, folds, n)
    group = np.full(n, -1)
    pairs = rng.choice(n, size=(n // 20, 2), replace=False)  # 10% of posts in duplicate pairs (same fold)
    group[pairs[:, 0]] = group[pairs[:, 1]] = np.arange(len(pairs))
    fold[pairs[:, 1]] = fold[pairs[:, 0]]
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for k in range(folds):
            training = np.flatnonzero(fold != k)
            model = train_head(x, indptr, cols, ratings, training, tags, TrainOptions())
            context = fit_label_context(indptr, cols, training, tags, seed=k)
            beside = FoldEvidence(x, indptr, cols, tags, training, group, EvidenceOptions(), context)
            for batch, probabilities, _ in predict(model, x, np.flatnonzero(fold == k)):
                beside.blend(batch, probabilities)
        runs.append(time.perf_counter() - started)
    return {
        "posts": n,
        "dim": dim,
        "tags": tags,
        "folds": folds,
        "epochs": TrainOptions().epochs,
        "max_steps": TrainOptions().max_steps,
        "epochs_run": training_plan(int((fold != 0).sum()), TrainOptions())[0],
        "torch_threads": torch.get_num_threads(),
        "runs_s": [round(r, 1) for r in runs],
        "median_s": round(statistics.median(runs), 1),
        "target_s": 600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--speed", action="store_true", help="only the training time (heads + evidence) on synthetic arrays")
    parser.add_argument("--speed-posts", type=int, default=100_000, help="posts for --speed")
    parser.add_argument("--speed-dim", type=int, default=1280, help="embedding width for --speed (2304: [embed] layers = [5, 6])")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep the board and workspace in this folder")
    opts = parser.parse_args()
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    if opts.speed:
        result["speed"] = speed(opts.repeats, n=opts.speed_posts, dim=opts.speed_dim)
    else:
        result["quality"] = quality(opts.posts, opts.image_size, opts.keep)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
