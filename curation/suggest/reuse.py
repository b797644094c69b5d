"""A rebuild reruns cleanlab only for the tags whose inputs changed; the others keep their flags.

cleanlab is most of what ``curate suggest`` costs (one binary problem per tag over every post).
After each run, ``WORKSPACE/cache/suggest/`` keeps every tag's flags with what decided them:

- ``meta.json``: the prediction store's ``store_id`` (a training makes a new one; a top-up of new
  posts keeps it, and with it every old post's probabilities), the cleanlab filter and version,
  and :data:`REUSE_VERSION`; any change and every tag reruns.
- ``posts.npy``: the (N,) posts that had probabilities.
- ``tags.parquet``: per tag, a fingerprint of its labelled posts (:func:`positives_fingerprint`;
  a tag edit, an accepted decision, an implication or a removed post carrying it changes it)
  and its floor: the lowest probability at which a post without the tag could be flagged for
  it (the smaller of the mean probability of its labelled posts, cleanlab's per-class
  threshold, and of its flagged adds).
- ``flags.parquet``: the flags (tag, post_id, is_add, probability, label_quality).

A tag keeps its flags when the store and settings are the same, its labelled posts are the same,
and every post new since then scores under its floor: such a post would join the tag's confident
negatives, which moves cleanlab's thresholds by one post in thousands. Flags of posts that
left are dropped. Calibration evidence is recomputed for every tag (it is cheap), so the precision
estimates always see the whole board.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

REUSE_VERSION = 1
CACHE_DIR = Path("cache") / "suggest"
FLAG_SCHEMA = {"tag": pl.Utf8, "post_id": pl.Int64, "is_add": pl.Boolean, "probability": pl.Float32, "label_quality": pl.Float32}


def positives_fingerprint(post_ids: np.ndarray) -> int:
    """One uint64 for a set of post ids (order-free; splitmix64 of each id, summed)."""
    with np.errstate(over="ignore"):
        z = np.asarray(post_ids, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return int(z.sum(dtype=np.uint64))


def tag_floor(labels: np.ndarray, scores: np.ndarray, flagged_add_scores: np.ndarray) -> float:
    """labels (N,) bool, scores (N,) float32 of one tag; the probabilities of its flagged adds (M,).
    Under this probability an unlabelled post is a confident negative (see the module docstring)."""
    mean_positive = float(scores[labels].mean()) if labels.any() else 0.0
    return min([mean_positive, *flagged_add_scores.tolist()])


@dataclass
class CachedFlags:
    """The last run's flags and what decided them, for the same store and settings."""

    posts: np.ndarray  # (N,) int64 posts that had probabilities then
    fingerprint: dict[str, int]  # tag -> positives_fingerprint then
    floor: dict[str, float]  # tag -> tag_floor then
    flags: pl.DataFrame  # FLAG_SCHEMA

    def flags_of(self, tags: set[str]) -> pl.DataFrame:
        return self.flags.filter(pl.col("tag").is_in(sorted(tags)))


def cache_key(store_meta: dict, filter_by: str) -> dict:
    import cleanlab

    return {
        "store_id": store_meta.get("store_id"),
        "filter_by": filter_by,
        "cleanlab": cleanlab.__version__,
        "version": REUSE_VERSION,
    }


def load(workspace: Path, key: dict) -> CachedFlags | None:
    """The cached flags when they were made under ``key`` (else None: every tag reruns)."""
    folder = Path(workspace) / CACHE_DIR
    try:
        if key["store_id"] is None or json.loads((folder / "meta.json").read_text()) != key:
            return None
        tags = pl.read_parquet(folder / "tags.parquet")
        return CachedFlags(
            np.load(folder / "posts.npy"),
            dict(zip(tags["tag"].to_list(), tags["fingerprint"].to_list())),
            dict(zip(tags["tag"].to_list(), tags["floor"].to_list())),
            pl.read_parquet(folder / "flags.parquet"),
        )
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
        return None  # missing or damaged: a full run, never a failure


def save(workspace: Path, key: dict, posts: np.ndarray, tags: pl.DataFrame, flags: pl.DataFrame) -> None:
    """Replace the cache: written aside, then swapped in (a kill in between leaves none: a full run next)."""
    folder = Path(workspace) / CACHE_DIR
    aside = folder.with_name(folder.name + ".new")
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir(parents=True)
    np.save(aside / "posts.npy", np.asarray(posts, dtype=np.int64))
    tags.write_parquet(aside / "tags.parquet")
    flags.write_parquet(aside / "flags.parquet")
    (aside / "meta.json").write_text(json.dumps(key))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(aside, folder)
