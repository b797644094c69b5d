"""Did the images stage give every planted bad file the status the truth expects?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..catalog import open_catalog
from .ingest import read_truth


@dataclass(frozen=True)
class ImagesScore:
    bad_files: int  # planted bad files among the inspected posts
    bad_files_right: int  # of those, with the expected status
    wrong: tuple[tuple[int, str, str, str], ...]  # (post_id, problem, expected, got)


def evaluate_images(workspace: Path | str, truth_dir: Path | str) -> ImagesScore:
    bad = read_truth(Path(truth_dir), "bad_files")
    with open_catalog(workspace, read_only=True) as cat:
        status = dict(cat.rows("SELECT post_id, status FROM images"))
    rows = [
        (pid, problem, expected, status[pid])
        for pid, problem, expected in bad.select("post_id", "problem", "expected_status").iter_rows()
        if pid in status
    ]
    wrong = tuple(r for r in rows if r[2] != r[3])
    return ImagesScore(len(rows), len(rows) - len(wrong), wrong)
