"""Benchmark: the images stage on a 2,000-post synthetic board with 256-px images.

Times `curate images` (full decode of every frame, validation, pixel sha256, pHash and dHash
of the picture and its mirror) in fresh workspaces with 1 and 2 worker processes; the
baseline named here is the 1-worker run (the 2x-imagededup comparison is the dedupe issue's).

    python bench/bench_images.py [--posts 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import curate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_images_"))
    try:
        curate("synth", str(work / "board"), "--posts", str(opts.posts))
        results = {}
        for workers in (1, 2):
            times = []
            for _ in range(opts.repeats):
                ws = work / "ws"
                shutil.rmtree(ws, ignore_errors=True)
                curate("init", str(ws), "--source", str(work / "board"))
                text = (
                    (ws / "curate.toml")
                    .read_text()
                    .replace("drop_deleted = true\ndrop_banned = true", "drop_deleted = false\ndrop_banned = false")
                )
                (ws / "curate.toml").write_text(text.replace("[images]\n", f"[images]\nworkers = {workers}\n"))
                curate("ingest", str(ws))
                curate("select", str(ws))
                start = time.perf_counter()
                curate("images", str(ws))
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            results[f"{workers} worker(s)"] = {
                "runs_s": [round(t, 2) for t in times],
                "median_s": round(median, 2),
                "files_per_s": round(opts.posts / median),
            }
        base = results["1 worker(s)"]["median_s"]
        for r in results.values():
            r["speedup_vs_1_worker"] = round(base / r["median_s"], 2)
        print(
            json.dumps(
                {
                    "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                    "posts": opts.posts,
                    "results": results,
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
