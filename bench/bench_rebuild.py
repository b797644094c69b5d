"""Benchmark: what a scheduled rebuild costs (issue: scheduled rebuilds at board scale).

A synthetic board with images and an earlier snapshot of it (`curate synth --earlier`): the
workspace's source folder first holds the earlier dump, and `curate run` builds everything; then
the newer dump replaces it (+1% posts, some of them reposts of old posts; 0.5% of posts with tag
edits; 0.2% deleted; one new alias and one new implication) and `curate run` runs again; then a
third `curate run` with nothing changed. For each run: wall time (the temporary Prefect server
included, as a user would see it), each stage's time and whether it ran (from `curate runs`),
bytes written by the run's processes (their block output, ``ru_oublock``; the temporary
Prefect server's own database included), the total size of the workspace files created or
changed (an upper bound: a catalog changed in place counts whole), the workspace's size after,
and its peak size during the run (sampled every 0.2 s). Last, the tagger of the delta rebuild
(kept heads topped up with the new posts, or warm-started ones when the change is larger) against
one trained from scratch on a copy of the same workspace (`[tagger] warm_start = false`,
`retrain_after_change = 0`): macro AP on the posts' labels, and the train time of each.

    python bench/bench_rebuild.py [--posts 20000] [--seed 1] [--keep DIR]

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import curate


def snapshot_sizes(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of every file under ``root``."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            out[path] = (st.st_size, st.st_mtime_ns)
    return out


class PeakSize:
    """Samples a folder's total size in a thread until stopped; keeps the largest."""

    def __init__(self, root: Path, every: float = 0.2) -> None:
        self.root, self.every, self.peak = root, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(size for size, _ in snapshot_sizes(self.root).values()))
            self._stop.wait(self.every)

    def __enter__(self) -> PeakSize:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def one_run(ws: Path, label: str) -> dict:
    before = snapshot_sizes(ws)
    blocks = resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock
    with PeakSize(ws) as peak:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "curation.cli", "-q", "run", str(ws)], capture_output=True, text=True)
        seconds = time.perf_counter() - started
    written_by_processes = (resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock - blocks) * 512
    if done.returncode:
        raise SystemExit(f"curate run ({label}) failed:\n{done.stdout}\n{done.stderr}")
    after = snapshot_sizes(ws)
    written = sum(size for path, (size, mtime) in after.items() if before.get(path, (None, None))[1] != mtime)
    runs = json.loads(
        subprocess.run(
            [sys.executable, "-m", "curation.cli", "runs", str(ws), "--last", "1", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    stages = runs[0]["stages"] if runs else []
    return {
        "run": label,
        "seconds": round(seconds, 1),
        "bytes_written": written_by_processes,
        "changed_files_bytes": written,
        "size_after": sum(size for size, _ in after.values()),
        "peak_size": max(peak.peak, sum(size for size, _ in after.values())),
        "size_before": sum(size for size, _ in before.values()),
        "stages": [
            {
                k: (round(s[k], 1) if k == "seconds" and s[k] is not None else s[k])
                for k in ("stage", "ran", "reason", "seconds", "changed")
            }
            for s in stages
        ],
    }


def tagger_from_scratch(ws: Path) -> dict:
    """Macro AP of the workspace's heads, and of heads trained from scratch on a copy of it."""
    from curation.config import load_config, write_config
    from curation.tagger.evaluate import evaluate_taggers

    scratch = ws.with_name(ws.name + "_scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(ws, scratch, ignore=shutil.ignore_patterns(".curate.lock"))
    config = load_config(scratch)
    write_config(
        scratch,
        config.model_copy(update={"tagger": config.tagger.model_copy(update={"warm_start": False, "retrain_after_change": 0.0})}),
    )
    started = time.perf_counter()
    curate("train", str(scratch))
    seconds = time.perf_counter() - started
    [warm] = evaluate_taggers(ws, ["kfold-heads"])
    [cold] = evaluate_taggers(scratch, ["kfold-heads"])
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "macro_ap_delta_rebuild": round(warm.overall.macro_ap, 4),
        "macro_ap_from_scratch": round(cold.overall.macro_ap, 4),
        "train_seconds_from_scratch": round(seconds, 1),
        "target_abs_difference": 0.01,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the board in this folder")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="bench_rebuild_"))
    board, source, ws = work / "board", work / "source", work / "ws"
    try:
        if not (board / "earlier" / "changes.json").exists():
            curate("synth", str(board), "--posts", str(opts.posts), "--seed", str(opts.seed), "--earlier", "--overwrite")
        for old in (source, ws):
            shutil.rmtree(old, ignore_errors=True)
        source.mkdir(parents=True)
        shutil.copytree(board / "earlier" / "metadata", source / "metadata")
        (source / "original").symlink_to((board / "original").resolve(), target_is_directory=True)
        curate("init", str(ws), "--source", str(source))
        results = [one_run(ws, "full (earlier snapshot)")]
        shutil.rmtree(source / "metadata")
        shutil.copytree(board / "metadata", source / "metadata")
        results.append(one_run(ws, "delta (newer snapshot)"))
        results.append(one_run(ws, "no change"))
        tagger = tagger_from_scratch(ws)
        full, delta = results[0], results[1]
        print(
            json.dumps(
                {
                    "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                    "posts": opts.posts,
                    "changes": {
                        k: len(v) if isinstance(v, list) and k not in ("new_alias", "new_implication") else v
                        for k, v in json.loads((board / "earlier" / "changes.json").read_text()).items()
                    },
                    "runs": results,
                    "delta_over_full": {
                        "time": round(delta["seconds"] / full["seconds"], 3),
                        "bytes_written": round(delta["bytes_written"] / max(full["bytes_written"], 1), 3),
                    },
                    "peak_over_rest": [round(r["peak_size"] / max(r["size_after"], 1), 3) for r in results],
                    "tagger": tagger,
                    "targets": {"delta_time": 0.15, "delta_bytes": 0.15, "no_change_seconds": 10, "peak_over_rest": 1.2},
                },
                indent=1,
                default=str,
            )
        )
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
