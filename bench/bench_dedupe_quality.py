"""Dedupe quality per planted kind on synthetic boards: hashes alone and the default (both signals).

For each board (posts, seed): `curate synth` (256-px images), a permissive selection (deleted
and banned posts kept, so every planted pair is in it), `curate images`, `curate embed` (the
offline default embedder), `curate dedupe` with the defaults, then
`evaluate_dedupe(..., signals)` for hash edges only and for everything dedupe grouped. Targets
(hash dedupe issue): precision >= 0.99 and recall >= 0.95 for exact, reencode, resize, border
and alpha_background; (embeddings issue) the same with both signals on every kind but variant.

    python bench/bench_dedupe_quality.py [--boards 2000:0 4000:1 3000:2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from _common import curate, embedded_board


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", nargs="+", default=["2000:0", "4000:1", "3000:2"], help="POSTS:SEED of each board")
    parser.add_argument("--keep", type=Path, help="reuse/keep boards and workspaces in this folder")
    opts = parser.parse_args()
    from curation.evaluate import evaluate_dedupe

    work = opts.keep or Path(tempfile.mkdtemp(prefix="dedupe_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    try:
        for spec in opts.boards:
            posts, seed = (int(v) for v in spec.split(":"))
            ws, truth = embedded_board(work, posts, seed, keep_deleted=True)
            curate("dedupe", str(ws))
            report[spec] = {
                signals: {
                    s.kind: {"pairs": s.truth_pairs, "recall": round(s.recall, 3), "precision": round(s.precision, 3)}
                    for s in evaluate_dedupe(ws, truth, signals)
                }
                for signals in ("hashes", "both")
            }
        print(json.dumps(report, indent=1))
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
