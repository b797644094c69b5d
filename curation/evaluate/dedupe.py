"""Pairwise precision, recall and F1 of the duplicate groups, per planted kind.

Truth pairs are (duplicate, its original) for every planted duplicate whose two files both
reached dedupe. A pair is found when the two posts share a group (for ``variant``, which is not
grouped by default: when an edge joins them). Precision counts every pair of posts put in one
group: right when the truth has them in one group too; per kind, over the pairs that touch a
planted duplicate of that kind.

Groups are rebuilt from ``dup_edges`` with the signals asked for: ``both`` (what dedupe
grouped), ``hashes`` (edges with a ``distance``: hash matches, ``composite`` edges, and the
``aligned`` pairs the hashes proposed) or ``embeddings`` (edges from embeddings: ``semantic``, their
``variant`` edges, and the ``aligned`` pairs they proposed), and optionally only
``semantic``/``variant`` embedding edges at or above ``min_similarity`` and ``aligned`` edges at
or above ``min_alignment`` (``min_masked_alignment`` when either post is transparent): one
dedupe run at low thresholds can be scored at every higher one (that is how the defaults are
calibrated). Edges whose ``precision_estimate`` is below ``[dedupe] min_precision`` (or the
``min_precision`` asked for) are left out, as dedupe leaves them out of its groups.

:func:`labelled_edges` and :func:`edge_calibration` judge edges one by one: how many of each
kind the truth confirms, beside the precision dedupe estimated for them.

:func:`evaluate_hard_negatives` counts, per kind, the planted look-alikes (other pictures sharing a
palette, a layout or a character design with an earlier post; ``curate synth --reposts all``)
that were put in one group with the post they resemble: each one is a wrong pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import polars as pl

from ..catalog import open_catalog
from ..config import load_config
from ..dedupe.stage import counted_kinds
from ..dedupe.unionfind import UnionFind
from .ingest import read_truth

SIGNALS = ("both", "hashes", "embeddings")
EDGE_COLUMNS = {
    "post_a": pl.Int64, "post_b": pl.Int64, "kind": pl.Utf8, "distance": pl.Int32, "similarity": pl.Float32,
    "precision_estimate": pl.Float32,
}  # fmt: skip


@dataclass(frozen=True)
class KindScore:
    kind: str
    truth_pairs: int
    found: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def recall(self) -> float:
        return self.found / self.truth_pairs if self.truth_pairs else float("nan")

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass(frozen=True)
class NegativeScore:
    kind: str  # palette | layout | character | all
    pairs: int  # planted look-alike pairs whose two files both reached dedupe
    grouped: int  # of those, put in one group (wrong)


def _grouping(
    workspace: Path | str,
    signals: str,
    min_similarity: float | None,
    min_alignment: float | None,
    min_masked_alignment: float | None,
    min_precision: float | None = None,
) -> tuple[set[int], dict[int, int], set[tuple[int, int]]]:
    """(posts dedupe considered, post -> group number for posts in a group of 2+, pairs an edge links).
    ``min_precision``: edges estimated less likely right are left out (None: the workspace's
    ``[dedupe] min_precision``, as dedupe grouped)."""
    if signals not in SIGNALS:
        raise ValueError(f"signals must be one of {SIGNALS}, not {signals!r}")
    cfg = load_config(workspace).dedupe
    counted = counted_kinds(cfg)
    floor = cfg.min_precision if min_precision is None else min_precision
    with open_catalog(workspace, read_only=True) as cat:
        considered = {r[0] for r in cat.run("marts/dedupe_inputs").fetchall()}
        transparent = {r[0] for r in cat.rows("SELECT post_id FROM images WHERE has_alpha")}
        estimate = "precision_estimate" if cat.has_column("dup_edges", "precision_estimate") else "1.0"
        edges = [
            (a, b, k)
            for a, b, k, dist, sim, p in cat.rows(f"SELECT post_a, post_b, kind, distance, similarity, {estimate} FROM dup_edges")
            if (signals == "both" or (dist is not None) == (signals == "hashes"))
            and _kept(k, sim, a in transparent or b in transparent, min_similarity, min_alignment, min_masked_alignment)
            and (p is None or p >= floor)
        ]
    uf = UnionFind(sorted(considered))
    for a, b, kind in edges:
        if kind in counted:
            uf.union(a, b)
    group = {p: gid for gid, members in enumerate(uf.groups().values()) if len(members) > 1 for p in members}
    return considered, group, {(a, b) for a, b, _ in edges}


def evaluate_dedupe(
    workspace: Path | str,
    truth_dir: Path | str,
    signals: str = "both",
    min_similarity: float | None = None,
    min_alignment: float | None = None,
    min_masked_alignment: float | None = None,
    min_precision: float | None = None,
) -> list[KindScore]:
    truth = read_truth(Path(truth_dir), "duplicates")
    considered, group, linked = _grouping(workspace, signals, min_similarity, min_alignment, min_masked_alignment, min_precision)
    truth_group = dict(zip(truth["post_id"], truth["group_id"]))
    kind_of = dict(zip(truth["post_id"], truth["kind"]))
    members: dict[int, list[int]] = {}
    for post, gid in group.items():
        members.setdefault(gid, []).append(post)
    predicted = [tuple(sorted(p)) for m in members.values() for p in combinations(m, 2)]
    scores = []
    kinds = sorted({k for k in truth["kind"] if k != "original"})
    for kind in kinds + ["all"]:
        pairs = [
            (p, s)
            for p, k, s in truth.select("post_id", "kind", "source_post_id").iter_rows()
            if k != "original" and (kind == "all" or k == kind) and p in considered and s in considered
        ]
        found = sum(
            1
            for p, s in pairs
            if (p in group and group.get(p) == group.get(s)) or (kind_of.get(p) == "variant" and tuple(sorted((p, s))) in linked)
        )
        touching = [pr for pr in predicted if kind == "all" or kind_of.get(pr[0]) == kind or kind_of.get(pr[1]) == kind]
        correct = sum(1 for a, b in touching if a in truth_group and truth_group.get(a) == truth_group.get(b))
        scores.append(KindScore(kind, len(pairs), found, len(touching), correct))
    return scores


def labelled_edges(workspace: Path | str, truth_dir: Path | str) -> pl.DataFrame:
    """Every edge of ``dup_edges`` (post_a, post_b, kind, distance, similarity, and
    precision_estimate when the run wrote it) with ``right``: the truth puts its two posts in one
    group. Posts the truth does not list are pictures of their own."""
    truth = read_truth(Path(truth_dir), "duplicates")
    group = dict(zip(truth["post_id"].to_list(), truth["group_id"].to_list()))
    with open_catalog(workspace, read_only=True) as cat:
        columns = [c for c in EDGE_COLUMNS if cat.has_column("dup_edges", c)]
        edges = pl.DataFrame(
            cat.rows(f"SELECT {', '.join(columns)} FROM dup_edges"),
            schema={c: EDGE_COLUMNS[c] for c in columns},
            orient="row",
        )
    right = [group.get(a, -a) == group.get(b, -b) for a, b in edges.select("post_a", "post_b").iter_rows()]
    return edges.with_columns(pl.Series("right", right, dtype=pl.Boolean))


@dataclass(frozen=True)
class EdgeCalibration:
    kind: str  # an edge kind, or "all"
    edges: int
    right: int  # edges whose two posts the truth puts in one group
    estimate: float  # the mean precision_estimate dedupe gave them (nan when the run wrote none)

    @property
    def precision(self) -> float:
        return self.right / self.edges if self.edges else float("nan")


def edge_calibration(workspace: Path | str, truth_dir: Path | str) -> list[EdgeCalibration]:
    """Per edge kind (and ``all``): how many edges, how many right, and the precision dedupe
    estimated for them: the estimates are honest when the two shares agree."""
    edges = labelled_edges(workspace, truth_dir)
    if "precision_estimate" not in edges.columns:
        edges = edges.with_columns(pl.lit(None, dtype=pl.Float32).alias("precision_estimate"))
    out = []
    for kind in sorted(set(edges["kind"].to_list())) + ["all"]:
        mine = edges if kind == "all" else edges.filter(pl.col("kind") == kind)
        estimate = mine["precision_estimate"].mean()
        out.append(EdgeCalibration(kind, mine.height, int(mine["right"].sum()), float("nan") if estimate is None else estimate))
    return out


def evaluate_hard_negatives(
    workspace: Path | str, truth_dir: Path | str, signals: str = "both", min_precision: float | None = None
) -> list[NegativeScore]:
    """Per look-alike kind (and ``all``): planted pairs, and how many dedupe grouped. A board made
    without ``--reposts all`` has none: an empty list."""
    if not (Path(truth_dir) / "hard_negatives.parquet").is_file():
        return []
    negatives = read_truth(Path(truth_dir), "hard_negatives")
    if not negatives.height:
        return []
    considered, group, _ = _grouping(workspace, signals, None, None, None, min_precision)
    rows = [(p, q, k) for p, q, k in negatives.iter_rows() if p in considered and q in considered]
    out = []
    for kind in sorted({k for _, _, k in rows}) + ["all"]:
        mine = [(p, q) for p, q, k in rows if kind == "all" or k == kind]
        out.append(NegativeScore(kind, len(mine), sum(1 for p, q in mine if p in group and group.get(p) == group.get(q))))
    return out


def _kept(
    kind: str,
    similarity: float | None,
    masked: bool,
    min_similarity: float | None,
    min_alignment: float | None,
    min_masked_alignment: float | None,
) -> bool:
    """Whether an edge passes the thresholds being scored (edges without a similarity always do)."""
    if similarity is None or kind == "composite":  # composites are judged by their own limits, not swept
        return True
    if kind == "aligned":
        bound = min_masked_alignment if masked else min_alignment
    else:
        bound = min_similarity
    return bound is None or similarity >= bound
