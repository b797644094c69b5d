"""How likely an edge is right: each edge's ``precision_estimate``, read from a calibration table.

An edge's strength is what its kind measures: the cosine of embedding edges (``semantic``, and
``variant`` from embeddings), the pixel correlation of the checks (``aligned``, ``composite``,
``rotated``, ``cropped``, ``resized``, ``edited``, ``derivative``), minus the Hamming distance of hash edges
(``perceptual``, ``mirror``, ``background``, ``variant`` from hashes). The table
(``edge_precision.csv`` beside this module, made by ``bench/calibrate_edge_precision.py``)
holds, per kind, bands of strength and the share of right edges in each band on synthetic
boards whose truth is known: repost boards with every kind, plain boards, and a 20,000-post
board whose look-alikes (other pictures reusing a figure, a palette, a layout) make most wrong
edges. Within a kind the share never falls as strength rises (isotonic), and each band's share
is pulled toward the kind's own by a weak prior, so that a band of a few edges does not claim
certainty. ``exact`` and ``pixels`` edges are 1.0: the same bytes or the same decoded pixels
are one picture by definition, whatever a synthetic board's truth says about two posts that
happen to render alike.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

TABLE = Path(__file__).with_name("edge_precision.csv")
CERTAIN = ("exact", "pixels")
BY_SIMILARITY = ("semantic", "aligned", "composite", "rotated", "cropped", "resized", "edited", "derivative")
BAND_EDGES = 40  # the fewest edges a band holds when fitted (the last band of a kind may hold fewer)
PRIOR_EDGES = 4.0  # how many edges' worth the kind's own share weighs in each band
OTHER = "*"  # the row for kinds the table has no band of: every calibration edge pooled


def strength(kind: str, distance: int | None, similarity: float | None) -> float:
    """What an edge of ``kind`` measures, larger for a surer edge (see the module docstring)."""
    if kind in CERTAIN:
        return 0.0
    if kind in BY_SIMILARITY or (kind == "variant" and similarity is not None):
        return float(similarity) if similarity is not None else 0.0
    return -float(distance) if distance is not None else 0.0


@dataclass(frozen=True)
class Band:
    kind: str
    strength_from: float  # the band holds edges at or above this strength (below the next band's)
    edges: int
    right: int
    precision: float


class Calibration:
    """Bands of strength per kind -> the precision of an edge in that band."""

    def __init__(self, bands: list[Band]) -> None:
        self.bands = sorted(bands, key=lambda b: (b.kind, b.strength_from))
        self._by_kind: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for kind in {b.kind for b in self.bands}:
            mine = [b for b in self.bands if b.kind == kind]
            self._by_kind[kind] = (np.array([b.strength_from for b in mine]), np.array([b.precision for b in mine]))

    def estimate(self, kind: str, distance: int | None, similarity: float | None) -> float:
        """The precision of one edge: its kind's band that holds its strength (below the first
        band: the first band's); kinds without bands take the pooled row, or 0.5 without one."""
        if kind in CERTAIN:
            return 1.0
        starts, precision = self._by_kind.get(kind) or self._by_kind.get(OTHER) or (np.zeros(1), np.array([0.5]))
        at = int(np.searchsorted(starts, strength(kind, distance, similarity), side="right")) - 1
        return float(precision[max(at, 0)])

    def of_edges(self, edges: pl.DataFrame) -> pl.Series:
        """(E,) float32 ``precision_estimate`` of each row of ``edges`` (columns kind, distance, similarity)."""
        values = [self.estimate(k, d, s) for k, d, s in edges.select("kind", "distance", "similarity").iter_rows()]
        return pl.Series("precision_estimate", values, dtype=pl.Float32)

    def write(self, path: Path = TABLE) -> None:
        with path.open("w", newline="") as out:
            rows = csv.writer(out)
            rows.writerow(["kind", "strength_from", "edges", "right", "precision"])
            for b in self.bands:
                rows.writerow([b.kind, f"{b.strength_from:.4f}", b.edges, b.right, f"{b.precision:.4f}"])


def read_calibration(path: Path = TABLE) -> Calibration:
    with path.open(newline="") as rows:
        return Calibration(
            [
                Band(r["kind"], float(r["strength_from"]), int(r["edges"]), int(r["right"]), float(r["precision"]))
                for r in csv.DictReader(rows)
            ]
        )


@cache
def shipped_calibration() -> Calibration:
    """The table that ships with the package."""
    return read_calibration(TABLE)


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """Non-decreasing least-squares fit of ``values`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return [b[0] for b in blocks for _ in range(int(b[2]))]


def fit_calibration(labelled: pl.DataFrame, band_edges: int = BAND_EDGES, prior_edges: float = PRIOR_EDGES) -> Calibration:
    """Bands from edges with a known answer: columns kind, distance, similarity, right (bool).

    Per kind, edges sorted by strength are cut into bands of at least ``band_edges`` (never
    between two edges of equal strength); a band's precision is (right + prior_edges x p) /
    (edges + prior_edges), p the kind's share of right edges (itself pulled toward the pooled
    share the same way), then made non-decreasing in strength; neighbouring bands of one
    precision are merged."""
    rows = [
        (k, strength(k, d, s), bool(r)) for k, d, s, r in labelled.select("kind", "distance", "similarity", "right").iter_rows()
    ]
    pooled_right, pooled = sum(r for _, _, r in rows), len(rows)
    pooled_share = (pooled_right + 1.0) / (pooled + 2.0)
    bands = [Band(OTHER, 0.0, pooled, pooled_right, round(pooled_share, 4))]
    for kind in sorted({k for k, _, _ in rows} - set(CERTAIN)):
        mine = sorted((s, r) for k, s, r in rows if k == kind)
        share = (sum(r for _, r in mine) + prior_edges * pooled_share) / (len(mine) + prior_edges)
        cuts, start = [], 0
        while start < len(mine):
            stop = min(start + band_edges, len(mine))
            while stop < len(mine) and mine[stop][0] == mine[stop - 1][0]:
                stop += 1
            if len(mine) - stop < band_edges // 2:  # a short tail joins the band before it
                stop = len(mine)
            cuts.append((start, stop))
            start = stop
        counts = [(stop - start, sum(r for _, r in mine[start:stop])) for start, stop in cuts]
        raw = [(right + prior_edges * share) / (n + prior_edges) for n, right in counts]
        fitted = _isotonic(raw, [n for n, _ in counts])
        mine_bands: list[Band] = []
        for (start, _), (n, right), p in zip(cuts, counts, fitted):
            p = round(p, 4)
            if mine_bands and mine_bands[-1].precision == p:  # bands the isotonic fit pooled read as one
                last = mine_bands.pop()
                n, right, start_strength = last.edges + n, last.right + right, last.strength_from
            else:
                start_strength = -np.inf if start == 0 else mine[start][0]
            mine_bands.append(Band(kind, start_strength, n, right, p))
        bands += mine_bands
    return Calibration(bands)
