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
calibrated).

:func:`evaluate_hard_negatives` counts, per kind, the planted look-alikes (other pictures sharing a
palette, a layout or a character design with an earlier post; ``curate synth --reposts all``)
that were put in one group with the post they resemble: each one is a wrong pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from ..catalog import open_catalog
from ..config import load_config
from ..dedupe.stage import counted_kinds
from ..dedupe.unionfind import UnionFind
from .ingest import read_truth

SIGNALS = ("both", "hashes", "embeddings")


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
) -> tuple[set[int], dict[int, int], set[tuple[int, int]]]:
    """(posts dedupe considered, post -> group number for posts in a group of 2+, pairs an edge links)."""
    if signals not in SIGNALS:
        raise ValueError(f"signals must be one of {SIGNALS}, not {signals!r}")
    counted = counted_kinds(load_config(workspace).dedupe)
    with open_catalog(workspace, read_only=True) as cat:
        considered = {r[0] for r in cat.run("marts/dedupe_inputs").fetchall()}
        transparent = {r[0] for r in cat.rows("SELECT post_id FROM images WHERE has_alpha")}
        edges = [
            (a, b, k)
            for a, b, k, dist, sim in cat.rows("SELECT post_a, post_b, kind, distance, similarity FROM dup_edges")
            if (signals == "both" or (dist is not None) == (signals == "hashes"))
            and _kept(k, sim, a in transparent or b in transparent, min_similarity, min_alignment, min_masked_alignment)
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
) -> list[KindScore]:
    truth = read_truth(Path(truth_dir), "duplicates")
    considered, group, linked = _grouping(workspace, signals, min_similarity, min_alignment, min_masked_alignment)
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


def evaluate_hard_negatives(workspace: Path | str, truth_dir: Path | str, signals: str = "both") -> list[NegativeScore]:
    """Per look-alike kind (and ``all``): planted pairs, and how many dedupe grouped. A board made
    without ``--reposts all`` has none: an empty list."""
    if not (Path(truth_dir) / "hard_negatives.parquet").is_file():
        return []
    negatives = read_truth(Path(truth_dir), "hard_negatives")
    if not negatives.height:
        return []
    considered, group, _ = _grouping(workspace, signals, None, None, None)
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
