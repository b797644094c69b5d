"""How much a train/val/test assignment leaks: duplicates and families that cross splits.

Pure: an assignment (post -> split) and the links in, counts out. Works for any assignment,
ours or one read from a file, and for the plain ``post_id % 1000`` scheme.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import CurationError


@dataclass
class LeakageReport:
    posts: Counter = field(default_factory=Counter)  # split -> posts
    crossing_edges: Counter = field(default_factory=Counter)  # duplicate-edge kind -> edges whose ends differ in split
    groups: int = 0
    crossing_groups: int = 0  # duplicate groups with members in two or more splits
    families: int = 0
    crossing_families: int = 0  # parent/child families in two or more splits
    leaked_posts: int = 0  # posts outside train with a duplicate or relative in train

    @property
    def clean(self) -> bool:
        return not (sum(self.crossing_edges.values()) or self.crossing_groups or self.crossing_families)


def _spread(members: dict[int, list[int]], split_of: dict[int, str]) -> tuple[int, int]:
    """(groups with two or more assigned members, those spread over two or more splits)."""
    total = crossing = 0
    for posts in members.values():
        splits = {split_of[p] for p in posts if p in split_of}
        if sum(1 for p in posts if p in split_of) >= 2:
            total += 1
            crossing += len(splits) > 1
    return total, crossing


def check_leakage(
    split_of: dict[int, str], edges: list[tuple[int, int, str]], groups: list[tuple[int, int]], parents: list[tuple[int, int]]
) -> LeakageReport:
    """split_of: post -> split name; edges: (post_a, post_b, kind); groups: (post, group id);
    parents: (child, parent) pairs. Posts absent from split_of are ignored."""
    report = LeakageReport(posts=Counter(split_of.values()))
    for a, b, kind in edges:
        if a in split_of and b in split_of and split_of[a] != split_of[b]:
            report.crossing_edges[kind] += 1
    by_group: dict[int, list[int]] = {}
    for post, gid in groups:
        by_group.setdefault(gid, []).append(post)
    report.groups, report.crossing_groups = _spread(by_group, split_of)
    by_family: dict[int, list[int]] = {}
    for child, parent in parents:
        by_family.setdefault(parent, [parent]).append(child)
    report.families, report.crossing_families = _spread(by_family, split_of)
    in_train = {p for p, s in split_of.items() if s == "train"}
    linked: dict[int, set[int]] = {}
    for a, b, _ in edges:
        linked.setdefault(a, set()).add(b)
        linked.setdefault(b, set()).add(a)
    for members in list(by_group.values()) + list(by_family.values()):
        for p in members:
            linked.setdefault(p, set()).update(members)
    report.leaked_posts = sum(1 for p, s in split_of.items() if s != "train" and linked.get(p, set()) & in_train)
    return report


def read_split_file(path: Path) -> dict[int, str]:
    """post -> split from a CSV or parquet with columns post_id and split, or a folder of
    ``<split>.txt`` files holding one post id a line."""
    path = Path(path)
    if path.is_dir():
        out: dict[int, str] = {}
        files = sorted(path.glob("*.txt"))
        if not files:
            raise CurationError(f"{path}: no <split>.txt files (one post id a line) in this folder")
        for file in files:
            for n, line in enumerate(file.read_text().splitlines(), 1):
                if line.strip():
                    try:
                        out[int(line.strip())] = file.stem
                    except ValueError:
                        raise CurationError(f"{file} line {n}: {line.strip()!r} is not a post id") from None
        return out
    if not path.is_file():
        raise CurationError(f"{path}: no such split file")
    try:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    except Exception as exc:
        raise CurationError(f"{path}: not a readable CSV or parquet file ({exc})") from None
    if not {"post_id", "split"} <= set(frame.columns):
        raise CurationError(f"{path}: needs columns post_id and split, has {', '.join(frame.columns)}")
    return dict(zip(frame["post_id"].cast(pl.Int64).to_list(), frame["split"].cast(pl.Utf8).to_list()))
