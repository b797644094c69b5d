"""Benchmark: composite candidates (a transparent post's copies flattened on one colour) as a
board grows, up to the density of a 1,000,000-post board.

The pictures are a real board's thumbnails (a workspace after `curate images`, e.g. the
20,000-post board of BENCHMARKS.md). A board ``m`` times denser is made from them: every
thumbnail of a canvas shape is taken under ``m`` transforms (flips and circular shifts), so
each shape holds ``m`` times as many different pictures, and each transparent post and its copy,
transformed alike, are still a composite pair. The truth at ``m = 1`` is every pair of a shape
compared by the composite check itself (``composite_scores``); at each ``m`` the bench reports
how many of those pairs (times ``m``) the candidate search proposes, the candidates per
transparent post, and the seconds for the keys, the search and the checks of the candidates.
What grows how: keys and checks are linear in the posts when each post takes a bounded number
of candidates; the search is exact while keys x questions of a colour bin stay under
``EXACT_SEARCH_UP_TO`` and an inverted file above (``--exact-search-up-to 0`` forces it).

    python bench/bench_composite_candidates.py WORKSPACE [--scales 1 5 10 25 50] [--exact-search-up-to N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np

from curation.dedupe import composite
from curation.dedupe.align import Thumb
from curation.dedupe.composite import (
    CompositeLimits,
    Copies,
    background_grey,
    candidate_copies,
    composite_scores,
    copy_keys,
)
from curation.dedupe.stage import thumb_from


def load_shapes(workspace: Path) -> dict[tuple, tuple[list[Thumb], list[Thumb]]]:
    """Thumbnails by (width, height, thumbnail shape): (transparent ones, opaque ones)."""
    con = duckdb.connect(str(workspace / "catalog.duckdb"), read_only=True)
    rows = con.execute("select thumb, thumb_alpha, thumb_width, width, height from image_hashes").fetchall()
    shapes: dict[tuple, tuple[list[Thumb], list[Thumb]]] = defaultdict(lambda: ([], []))
    for row in rows:
        thumb = thumb_from(*row)
        if thumb is not None:
            shapes[(thumb.width, thumb.height, thumb.grey.shape)][thumb.alpha is None].append(thumb)
    return {k: v for k, v in shapes.items() if v[0] and v[1]}


def transform(thumb: Thumb, n: int) -> Thumb:
    """The n-th of the bench's transforms: flips (n % 4) and a circular shift (n // 4 sevenths)."""
    h, w = thumb.grey.shape
    shift = ((n // 4) // 7 * h // 7, (n // 4) % 7 * w // 7)

    def apply(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        if n % 2:
            a = a[:, ::-1]
        if (n // 2) % 2:
            a = a[::-1]
        return np.ascontiguousarray(np.roll(a, shift, axis=(0, 1)))

    return Thumb(apply(thumb.grey), apply(thumb.alpha), thumb.width, thumb.height)


def truth(shapes: dict, background: float, limits: CompositeLimits) -> dict[tuple, set[tuple[int, int]]]:
    """Every composite pair (transparent index, opaque index) of each shape, by comparing every pair."""
    out = {}
    for key, (transparent, opaque) in shapes.items():
        copies = Copies.of(opaque)
        out[key] = {(i, k) for i, t in enumerate(transparent) for k, _, _ in composite_scores(t, copies, background, limits)}
    return out


def run_scale(shapes: dict, pairs: dict, scale: int, background: float, limits: CompositeLimits) -> dict:
    seconds = {"keys": 0.0, "search": 0.0, "checks": 0.0}
    posts = queries = proposed = found_true = total_true = found_all = entries = 0
    for key, (transparent, opaque) in shapes.items():
        originals = [transform(t, n) for n in range(scale) for t in transparent]  # index n * T + i
        copies = [transform(t, n) for n in range(scale) for t in opaque]  # index n * O + k
        posts += len(originals) + len(copies)
        start = time.perf_counter()
        keys = copy_keys(list(enumerate(copies)), limits)
        seconds["keys"] += time.perf_counter() - start
        entries += len(keys.owner)
        start = time.perf_counter()
        which, hits = candidate_copies(originals, keys, background, limits)
        seconds["search"] += time.perf_counter() - start
        queries += len(originals)
        proposed += len(which)
        start = time.perf_counter()
        by_original: dict[int, list[int]] = defaultdict(list)
        for q, k in zip(which.tolist(), hits.tolist()):
            by_original[q].append(k)
        for q, ks in by_original.items():
            found_all += len(composite_scores(originals[q], Copies.of([copies[k] for k in ks]), background, limits))
        seconds["checks"] += time.perf_counter() - start
        candidates = set(zip(which.tolist(), hits.tolist()))
        for i, k in pairs[key]:
            for n in range(scale):
                total_true += 1
                found_true += (n * len(transparent) + i, n * len(opaque) + k) in candidates
    return {
        "scale": scale,
        "posts": posts,
        "transparent": queries,
        "keys": entries,
        "candidates": proposed,
        "candidates_per_transparent": round(proposed / max(queries, 1), 2),
        "true_pairs": total_true,
        "true_pairs_proposed": found_true,
        "composites_found": found_all,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 5, 10, 25, 50])
    parser.add_argument("--background", type=int, nargs=3, default=[255, 255, 255], help="[images] alpha_background")
    parser.add_argument("--exact-search-up-to", type=int, default=composite.EXACT_SEARCH_UP_TO)
    args = parser.parse_args()
    composite.EXACT_SEARCH_UP_TO = args.exact_search_up_to
    limits = CompositeLimits()
    background = background_grey(tuple(args.background))
    shapes = load_shapes(args.workspace)
    start = time.perf_counter()
    pairs = truth(shapes, background, limits)
    print(
        json.dumps(
            {
                "workspace": str(args.workspace),
                "exact_search_up_to": args.exact_search_up_to,
                "shapes": len(shapes),
                "same_shape_pairs": sum(len(t) * len(o) for t, o in shapes.values()),
                "composites_every_pair": sum(map(len, pairs.values())),
                "every_pair_seconds": round(time.perf_counter() - start, 2),
            }
        ),
        flush=True,
    )
    for scale in args.scales:
        print(json.dumps(run_scale(shapes, pairs, scale, background, limits)), flush=True)


if __name__ == "__main__":
    main()
