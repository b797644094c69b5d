"""Helpers shared by the benchmark scripts (run as `python bench/NAME.py`, so importable as `_common`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def curate(*args: str) -> None:
    """Run one `curate` command quietly in a fresh process; raise if it fails."""
    subprocess.run([sys.executable, "-m", "curation.cli", "-q", *args], check=True, stdout=subprocess.DEVNULL)


def embedded_board(work: Path, posts: int, seed: int, dedupe_lines: str = "", keep_deleted: bool = False) -> tuple[Path, Path]:
    """A synthetic board of ``posts`` 256-px posts (``work/board_POSTS_SEED``) and its workspace
    (``work/ws_POSTS_SEED``) run through `curate embed` with the offline default embedder;
    made once and reused. ``dedupe_lines`` go under ``[dedupe]`` (no contact sheets either
    way); ``keep_deleted`` selects deleted and banned posts too. Returns (workspace, truth)."""
    board, ws = work / f"board_{posts}_{seed}", work / f"ws_{posts}_{seed}"
    if not (ws / "catalog.duckdb").exists():
        shutil.rmtree(ws, ignore_errors=True)
        curate("synth", str(board), "--posts", str(posts), "--seed", str(seed), "--image-size", "256", "--overwrite")
        curate("init", str(ws), "--source", str(board))
        text = (ws / "curate.toml").read_text()
        if keep_deleted:
            text = text.replace("drop_deleted = true", "drop_deleted = false").replace(
                "drop_banned = true", "drop_banned = false"
            )
        (ws / "curate.toml").write_text(text.replace("[dedupe]\n", f"[dedupe]\n{dedupe_lines}contact_sheets = 0\n"))
        for stage in ("ingest", "select", "images", "embed"):
            curate(stage, str(ws))
    return ws, board / "truth"
