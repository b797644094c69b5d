"""Calibrate [dedupe] semantic_threshold on synthetic boards, and score hashes vs embeddings vs both.

For each seed: a 2,000-post board with 256-px images, ingest -> select -> images -> embed
(the offline default embedder), then dedupe twice at a low threshold: with raw cosine
(whiten_dims = 0; what boards too small to whiten get) and with PCA-whitened embeddings. Every
higher threshold is scored from the stored edges (`evaluate_dedupe(..., min_similarity=t)`).
Each threshold chosen is the lowest at which grouping with both signals keeps the pairwise
precision of hashes alone on every board (within 0.002): the most recall that costs no
precision.

    python bench/calibrate_semantic.py [--posts 2000] [--seeds 11 12] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _common import curate


RAW = [round(0.86 + 0.01 * i, 2) for i in range(12)]
WHITENED = [round(0.30 + 0.025 * i, 3) for i in range(17)]


def prepare(work: Path, posts: int, seed: int) -> Path:
    board, ws = work / f"board{seed}", work / f"ws{seed}"
    if not (ws / "catalog.duckdb").exists():
        shutil.rmtree(ws, ignore_errors=True)
        curate("synth", str(board), "--posts", str(posts), "--seed", str(seed), "--image-size", "256", "--overwrite")
        curate("init", str(ws), "--source", str(board))
        text = (ws / "curate.toml").read_text()
        (ws / "curate.toml").write_text(text.replace("[dedupe]\n", "[dedupe]\n#SETTINGS\ncontact_sheets = 0\n"))
        for stage in ("ingest", "select", "images", "embed"):
            curate(stage, str(ws))
    return ws


def dedupe_with(ws: Path, settings: str) -> None:
    path = ws / "curate.toml"
    text = path.read_text()
    start, end = text.index("#SETTINGS"), text.index("#END\n") + 5 if "#END\n" in text else text.index("#SETTINGS") + 10
    path.write_text(text[:start] + f"#SETTINGS\n{settings}\n#END\n" + text[end:])
    curate("dedupe", str(ws))


def scores(ws: Path, truth: Path, signals: str, threshold: float | None) -> dict:
    from curation.evaluate import evaluate_dedupe

    return {s.kind: {"recall": round(s.recall, 3), "precision": round(s.precision, 3), "pairs": s.truth_pairs}
            for s in evaluate_dedupe(ws, truth, signals, threshold)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    parser.add_argument("--keep", type=Path, help="reuse/keep boards and workspaces in this folder")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="calibrate_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        boards = {seed: (prepare(work, opts.posts, seed), work / f"board{seed}" / "truth") for seed in opts.seeds}
        table: dict = {seed: {} for seed in boards}
        chosen = {}
        for name, settings, grid in (("raw", "whiten_dims = 0\nsemantic_threshold = 0.85", RAW),
                                     ("whitened", "whitened_threshold = 0.3", WHITENED)):
            for seed, (ws, truth) in boards.items():
                dedupe_with(ws, settings)
                table[seed]["hashes"] = scores(ws, truth, "hashes", None)
                for t in grid:
                    table[seed][f"{name} embeddings@{t}"] = scores(ws, truth, "embeddings", t)
                    table[seed][f"{name} both@{t}"] = scores(ws, truth, "both", t)
            ok = [t for t in grid if all(table[s][f"{name} both@{t}"]["all"]["precision"]
                                         >= table[s]["hashes"]["all"]["precision"] - 0.002 for s in table)]
            chosen[name] = min(ok) if ok else None
        print(json.dumps({"posts": opts.posts, "chosen": chosen, "scores": table}, indent=1))
        for seed in table:
            for row_name in ["hashes"] + [f"{n} {sig}@{chosen[n]}" for n in chosen for sig in ("embeddings", "both")]:
                row = table[seed].get(row_name, {})
                print(f"seed {seed} {row_name:26s} " + " ".join(f"{k}:{v['recall']:.2f}/{v['precision']:.3f}" for k, v in row.items()),
                      file=sys.stderr)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
