"""Benchmark: the embed stage's throughput against the bare model's, measured in the same run.

On a synthetic board with 256-px images (ingest -> select -> images first, untimed):
- baseline, "bare model": every file preprocessed into tensors beforehand (untimed), then only
  ``Embedder.embed`` over batches of ``batch_size`` is timed;
- "stage": ``run_embed`` from an empty store (decoding and preprocessing in DataLoader worker
  processes overlapping the model, writing shards and the catalog), timed as the stage reports.
Runs alternate; medians of ``--repeats``. Target: stage >= 90% of bare.

    python bench/bench_embed.py [--posts 600] [--repeats 3] [--workers 2]
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

import numpy as np
from _common import curate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    import torch

    from curation.catalog import open_catalog
    from curation.config import load_config
    from curation.embed import run_embed
    from curation.embed.stage import embedder_for

    work = Path(tempfile.mkdtemp(prefix="bench_embed_"))
    try:
        ws = work / "ws"
        curate("synth", str(work / "board"), "--posts", str(opts.posts), "--image-size", "256")
        curate("init", str(ws), "--source", str(work / "board"))
        text = (ws / "curate.toml").read_text()
        (ws / "curate.toml").write_text(text.replace("[embed]\n", f"[embed]\nworkers = {opts.workers}\n"))
        for stage in ("ingest", "select", "images"):
            curate(stage, str(ws))
        cfg = load_config(ws).embed
        embedder = embedder_for(cfg)
        with open_catalog(ws, read_only=True) as cat:
            paths = [r[1] for r in cat.run("marts/embed_todo", embedder=embedder.id).fetchall()]
        tensors = [
            torch.from_numpy(np.stack([embedder.preprocess(p) for p in paths[i : i + cfg.batch_size]]))
            for i in range(0, len(paths), cfg.batch_size)
        ]
        bare, stage = [], []
        for _ in range(opts.repeats):
            started = time.perf_counter()
            for batch in tensors:
                embedder.embed(batch)
            bare.append(len(paths) / (time.perf_counter() - started))
            with open_catalog(ws) as cat:
                cat.con.execute("DELETE FROM embeddings")
            shutil.rmtree(ws / "cache" / "embeddings", ignore_errors=True)
            report = run_embed(ws, embedder=embedder)
            stage.append(report.images_per_second)
        result = {
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
            },
            "embedder": embedder.id,
            "files": len(paths),
            "batch_size": cfg.batch_size,
            "workers": opts.workers,
            "bare_model_images_per_s": {"runs": [round(x, 2) for x in bare], "median": round(statistics.median(bare), 2)},
            "stage_images_per_s": {"runs": [round(x, 2) for x in stage], "median": round(statistics.median(stage), 2)},
        }
        result["stage_over_bare"] = round(result["stage_images_per_s"]["median"] / result["bare_model_images_per_s"]["median"], 3)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
