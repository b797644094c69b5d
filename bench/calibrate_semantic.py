"""Calibrate [dedupe] semantic_threshold on synthetic boards, and score hashes vs embeddings vs both.

For each seed: a 2,000-post board with 256-px images, ingest -> select -> images -> embed
(the offline default embedder) -> dedupe once at a low threshold (0.85), then every higher
threshold is scored from the stored edges (`evaluate_dedupe(..., min_similarity=t)`). The
threshold chosen is the lowest at which grouping with both signals keeps the pairwise
precision of hashes alone on every board (within 0.002) -- the most recall that costs no
precision.

    python bench/calibrate_semantic.py [--posts 2000] [--seeds 11 12] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

THRESHOLDS = [round(0.86 + 0.01 * i, 2) for i in range(12)]


def curate(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "curation.cli", "-q", *args], check=True, stdout=subprocess.DEVNULL)


def prepare(work: Path, posts: int, seed: int) -> Path:
    board, ws = work / f"board{seed}", work / f"ws{seed}"
    if not (ws / "catalog.duckdb").exists():
        shutil.rmtree(ws, ignore_errors=True)
        curate("synth", str(board), "--posts", str(posts), "--seed", str(seed), "--image-size", "256", "--overwrite")
        curate("init", str(ws), "--source", str(board))
        text = (ws / "curate.toml").read_text()
        (ws / "curate.toml").write_text(text.replace("[dedupe]\n", "[dedupe]\nsemantic_threshold = 0.85\ncontact_sheets = 0\n"))
        for stage in ("ingest", "select", "images", "embed", "dedupe"):
            curate(stage, str(ws))
    return ws


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
        table = {}
        for seed, (ws, truth) in boards.items():
            table[seed] = {"hashes": scores(ws, truth, "hashes", None),
                           **{f"embeddings@{t}": scores(ws, truth, "embeddings", t) for t in THRESHOLDS},
                           **{f"both@{t}": scores(ws, truth, "both", t) for t in THRESHOLDS}}
        ok = [t for t in THRESHOLDS
              if all(table[s][f"both@{t}"]["all"]["precision"] >= table[s]["hashes"]["all"]["precision"] - 0.002 for s in table)]
        chosen = min(ok) if ok else None
        print(json.dumps({"posts": opts.posts, "chosen_threshold": chosen, "scores": table}, indent=1))
        for seed in table:
            for name in ["hashes", f"embeddings@{chosen}", f"both@{chosen}"]:
                row = table[seed].get(name, {})
                print(f"seed {seed} {name:18s} " + " ".join(f"{k}:{v['recall']:.2f}/{v['precision']:.3f}" for k, v in row.items()),
                      file=sys.stderr)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
