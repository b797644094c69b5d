"""Benchmark: `curate suggest` at 100,000 posts x 2,000 tags, with oracle-quality probabilities.

A synthetic board without images (`curate synth --no-images`), ingested and selected with the
2,000 most frequent tags as labels. Benchmark scaffolding, not the product: every selected post
is marked as having a usable file (there are no images to inspect or embed), and an oracle
tagger is written straight into a prediction store: for each post and tag a probability drawn
from Beta(s, 2) when the board's true tags hold the tag, else Beta(1, s) (truth plus calibrated
noise). Then `run_suggest` is timed, peak memory of it and its worker processes taken, and the
suggestions scored against the planted label noise (`evaluate_suggestions`).

    python bench/bench_suggest.py [--posts 100000] [--tags 2000] [--strength 12] [--filter prune_by_noise_rate]
                                  [--set KEY=VALUE ...] [--keep DIR]

``--set`` puts further ``[suggest]`` keys in the config (TOML values: ``--set max_suggestions=1000``);
without it every setting is the default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import curate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--strength", type=float, default=12.0)
    parser.add_argument("--filter", default="prune_by_noise_rate")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a further [suggest] setting")
    parser.add_argument("--keep", type=Path)
    opts = parser.parse_args()

    from curation.catalog import open_catalog
    from curation.evaluate.suggest import evaluate_suggestions, oracle_probabilities
    from curation.suggest import run_suggest
    from curation.tagger.store import PredictionStore, tagger_folder

    work = opts.keep or Path(tempfile.mkdtemp(prefix="bench_suggest_"))
    board, ws = work / "board", work / "ws"
    try:
        if not (ws / "catalog.duckdb").exists():
            curate("synth", str(board), "--posts", str(opts.posts), "--no-images", "--seed", "5", "--overwrite")
            curate("init", str(ws), "--source", str(board))
            text = (ws / "curate.toml").read_text()
            text = text.replace("[select]\n", f"[select]\ntop_n_tags = {opts.tags}\n")
            (ws / "curate.toml").write_text(text.replace("[suggest]\n", '[suggest]\ntagger = "oracle"\n#BENCH\n'))
            curate("ingest", str(ws))
            curate("select", str(ws))
        text = (ws / "curate.toml").read_text()
        start, stop = text.index("#BENCH\n"), text.index("#END\n") + 5 if "#END\n" in text else text.index("#BENCH\n") + 7
        (ws / "curate.toml").write_text(
            text[:start]
            + f'#BENCH\ncleanlab_filter = "{opts.filter}"\n'
            + "".join(f"{setting.replace('=', ' = ', 1)}\n" for setting in opts.set)
            + "#END\n"
            + text[stop:]
        )
        with open_catalog(ws) as cat:  # scaffolding: every selected post "has" a usable file
            cat.con.execute("DELETE FROM images")
            cat.con.execute(
                "INSERT INTO images (post_id, md5, status, file_md5) "
                "SELECT post_id, md5, 'ok', md5 FROM selection JOIN posts USING (post_id)"
            )
        posts, tags, chunks = oracle_probabilities(ws, board / "truth", strength=opts.strength)
        folder = tagger_folder(ws, "oracle")
        store = PredictionStore.create(folder, posts, tags, 1024, meta={"name": "oracle", "kind": "external"}, ratings=False)
        for rows, probabilities in chunks:
            store.write(rows, probabilities.astype(np.float16))
        with open_catalog(ws) as cat:
            cat.run("marts/taggers_add", name="oracle", kind="external", folder=str(folder), posts=len(posts), tags=len(tags))

        started = time.perf_counter()
        report = run_suggest(ws)
        seconds = time.perf_counter() - started
        peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        scores = {
            f"{s.action} {s.band}": {
                "planted": s.planted,
                "suggested": s.suggested,
                "recall": round(s.recall, 3),
                "p_at_10": s.precision_at[10],
                "p_at_100": s.precision_at[100],
                "ap": round(s.average_precision, 3),
            }
            for s in evaluate_suggestions(ws, board / "truth")
            if s.planted
        }
        print(
            json.dumps(
                {
                    "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                    "posts": report.posts,
                    "tags": report.tags,
                    "filter": opts.filter,
                    "strength": opts.strength,
                    "settings": opts.set,
                    "suggest_seconds": round(seconds, 1),
                    "target_seconds": 600,
                    "peak_rss_gb": {"driver": round(peak_self, 2), "largest_worker": round(peak_children, 2)},
                    "suggestions": report.suggestions,
                    "scores": scores,
                },
                indent=2,
            )
        )
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
