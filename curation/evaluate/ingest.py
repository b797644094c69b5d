"""How faithfully the catalog holds a synthetic board: posts, canonical tags, rejects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..catalog import open_catalog
from ..errors import CurationError


@dataclass(frozen=True)
class IngestScore:
    posts_expected: int
    posts_found: int
    tags_exact: int  # posts whose canonical tags equal truth minus planted omissions plus planted errors
    quirk_rows_expected: int  # planted rows without id
    quirk_rows_rejected: int
    other_rejects: int

    @property
    def ok(self) -> bool:
        return (
            self.posts_found == self.posts_expected == self.tags_exact
            and self.quirk_rows_rejected == self.quirk_rows_expected
            and self.other_rejects == 0
        )


def read_truth(truth_dir: Path, name: str) -> pl.DataFrame:
    """One truth table of a synthetic board."""
    path = truth_dir / f"{name}.parquet"
    if not path.is_file():
        raise CurationError(f"{path}: not found; --truth must be the truth/ folder of a `curate synth` board")
    return pl.read_parquet(path)


def evaluate_ingest(workspace: Path | str, truth_dir: Path | str) -> IngestScore:
    truth_dir = Path(truth_dir)
    posts = read_truth(truth_dir, "posts")
    noise = read_truth(truth_dir, "label_noise")
    quirks = read_truth(truth_dir, "dump_quirks").filter(pl.col("quirk") == "row without id")
    expected = {pid: set(tags) for pid, tags in zip(posts["post_id"], posts["true_tags"])}
    for pid, tag, change in noise.iter_rows():
        expected[pid].discard(tag) if change == "missing" else expected[pid].add(tag)
    with open_catalog(workspace, read_only=True) as cat:
        got = {
            pid: set(tags)
            for pid, tags in cat.rows("SELECT post_id, list(t.name) FROM post_tags JOIN tags t USING (tag_id) GROUP BY post_id")
        }
        found = {r[0] for r in cat.rows("SELECT post_id FROM posts")}
        rejects = cat.rows("SELECT reason FROM ingest_rejects")
    no_id = sum(r[0] == "row without id" for r in rejects)
    return IngestScore(
        posts_expected=len(expected),
        posts_found=len(found & set(expected)),
        tags_exact=sum(got.get(pid, set()) == tags for pid, tags in expected.items()),
        quirk_rows_expected=quirks.height,
        quirk_rows_rejected=no_id,
        other_rejects=len(rejects) - no_id,
    )
