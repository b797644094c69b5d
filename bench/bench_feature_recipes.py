"""Benchmark: what an ``[embed]`` feature recipe does to the tagger and the suggestion queue
(issue: suggestions moderators can trust, part 1).

For each workspace (a synthetic board run through every stage with its defaults, as for
``bench_suggest_quality.py``) and each recipe, a copy of the workspace gets the recipe's
``[embed]`` settings, then ``curate embed`` (only the recipe's features: the plain vectors are
there already, so dedupe, splits and folds stay the same), ``curate train`` and ``curate
suggest``; the copy is scored like ``bench_suggest_quality.py`` (no reference) and deleted.
The board's own results are the ``plain`` row, read from the workspace as it is.

    python bench/bench_feature_recipes.py WS:TRUTH [WS:TRUTH ...] \\
        --recipe 'layers=[5,6]' --recipe 'flip=true' --recipe 'scales=[320]'

A recipe is ``;``-separated TOML ``key=value`` pairs of ``[embed]``. Prints one JSON document:
per recipe, per board and the medians, with the embed stage's seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

from bench_suggest_quality import board

KEYS = (
    "default_tagger_macro_ap",
    "plain_add_ap",
    "plain_remove_ap",
    "queue_add_ap",
    "queue_remove_ap",
    "queue_add_p_at_100",
    "queue_remove_p_at_100",
)


def parse_recipe(text: str) -> dict:
    """``'layers=[5,6]; flip=true'`` -> ``{"layers": [5, 6], "flip": True}``."""
    return tomllib.loads("\n".join(part.strip() for part in text.split(";") if part.strip()))


def run_recipe(ws: Path, truth: Path, settings: dict) -> dict:
    from curation.config import load_config, with_settings, write_config
    from curation.embed import run_embed
    from curation.suggest.stage import run_suggest
    from curation.tagger.train import run_train

    with tempfile.TemporaryDirectory(dir=ws.parent) as tmp:
        copy = Path(tmp) / ws.name
        shutil.copytree(ws, copy)
        write_config(copy, with_settings(load_config(copy), embed=settings))
        started = time.perf_counter()
        report = run_embed(copy)
        embed_s = time.perf_counter() - started
        started = time.perf_counter()
        run_train(copy)
        train_s = time.perf_counter() - started
        run_suggest(copy)
        out = board(copy, truth, reference=False)
    return {"embedder": report.embedder, "embed_s": round(embed_s, 1), "train_s": round(train_s, 1)} | {k: out[k] for k in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("boards", nargs="+", help="WORKSPACE:TRUTH_DIR pairs")
    parser.add_argument("--recipe", action="append", default=[], help="';'-separated [embed] key=value pairs")
    args = parser.parse_args()
    pairs = [(Path(ws), Path(truth)) for ws, truth in (pair.split(":") for pair in args.boards)]
    results: dict[str, dict] = {
        "plain": {str(ws): {k: board(ws, truth, reference=False)[k] for k in KEYS} for ws, truth in pairs}
    }
    for text in args.recipe:
        settings = parse_recipe(text)
        results[text] = {str(ws): run_recipe(ws, truth, settings) for ws, truth in pairs}
    summary = {
        name: {k: round(statistics.median(r[k] for r in rows.values()), 4) for k in KEYS} for name, rows in results.items()
    }
    print(json.dumps({"boards": results, "medians": summary}, indent=1))


if __name__ == "__main__":
    main()
