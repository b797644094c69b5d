"""Fit the table behind every duplicate edge's ``precision_estimate`` (curation/dedupe/edge_precision.csv).

Boards with known truth, each run through `curate dedupe` with the defaults (so the table
describes the edges dedupe makes): by default two repost boards with every kind (`curate synth
--reposts all --duplicate-rate 0.3`: 2,000 posts seed 29 and 1,500 posts seed 7) and a plain
4,000-post board (seed 13); `--workspace WS TRUTH` adds a workspace already run through
`curate embed` (the 20,000-post board of bench_rebuild.py is the one whose look-alikes make most
wrong edges). Every edge is labelled right or wrong from the truth
(`curation.evaluate.dedupe.labelled_edges`), the bands are fitted
(`curation.dedupe.precision.fit_calibration`), and the table is written (or only printed with
`--dry-run`), with each kind's measured precision per board beside it.

    python bench/calibrate_edge_precision.py [--keep DIR] [--workspace WS TRUTH ...] [--dry-run]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import polars as pl
from _common import curate, embedded_board

REPOST_BOARDS = ((2000, 29), (1500, 7))
PLAIN_BOARDS = ((4000, 13),)


def repost_board(work: Path, posts: int, seed: int) -> tuple[Path, Path]:
    """A board with every repost kind and its workspace, run through `curate embed` (made once)."""
    board, ws = work / f"reposts_{posts}_{seed}", work / f"ws_reposts_{posts}_{seed}"
    if not (ws / "catalog.duckdb").exists():
        shutil.rmtree(ws, ignore_errors=True)
        curate("synth", str(board), "--posts", str(posts), "--seed", str(seed), "--image-size", "256",
               "--reposts", "all", "--duplicate-rate", "0.3", "--overwrite")  # fmt: skip
        curate("init", str(ws), "--source", str(board))
        text = (ws / "curate.toml").read_text().replace("drop_deleted = true", "drop_deleted = false")
        (ws / "curate.toml").write_text(text.replace("drop_banned = true", "drop_banned = false"))
        for stage in ("ingest", "select", "images", "embed"):
            curate(stage, str(ws))
    return ws, board / "truth"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="reuse/keep boards and workspaces in this folder")
    parser.add_argument("--workspace", nargs=2, action="append", default=[], metavar=("WS", "TRUTH"))
    parser.add_argument("--no-default-boards", action="store_true", help="only the --workspace ones")
    parser.add_argument("--dry-run", action="store_true", help="print the table, do not write it")
    opts = parser.parse_args()
    from curation.dedupe.precision import TABLE, fit_calibration
    from curation.evaluate.dedupe import labelled_edges

    work = opts.keep or Path(tempfile.mkdtemp(prefix="edge_precision_"))
    work.mkdir(parents=True, exist_ok=True)
    boards = [(Path(ws), Path(truth)) for ws, truth in opts.workspace]
    if not opts.no_default_boards:
        boards += [repost_board(work, p, s) for p, s in REPOST_BOARDS]
        boards += [embedded_board(work, p, s, keep_deleted=True) for p, s in PLAIN_BOARDS]
    frames = []
    for ws, truth in boards:
        curate("dedupe", str(ws))
        edges = labelled_edges(ws, truth).with_columns(pl.lit(ws.name).alias("board"))
        frames.append(edges.select("board", "kind", "distance", "similarity", "right"))
    labelled = pl.concat(frames)
    pl.Config.set_tbl_rows(100)
    print(labelled.group_by("board", "kind").agg(edges=pl.len(), precision=pl.col("right").mean().round(3)).sort("kind", "board"))
    calibration = fit_calibration(labelled)
    for band in calibration.bands:
        print(f"{band.kind:12s} from {band.strength_from:>8.4f}  {band.right:5d}/{band.edges:<5d} -> {band.precision:.4f}")
    if not opts.dry_run:
        calibration.write(TABLE)
        print(f"written: {TABLE}")
    if opts.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
