"""A rebuild on a newer dump ends where a build from scratch on that dump does.

A workspace built on a board's earlier snapshot, then rebuilt on the newer one (new posts, some
reposts of old ones, deletions, tag edits, a new alias and implication), against a workspace
built from scratch on the newer one: ingest, select, images and dedupe give the same rows. The
rebuild reuses what it can (hashed files, embeddings, pixel checks of old pairs), so this is
what shows the reuse changes nothing. Splits are the exception by design: an old post keeps
its split across rebuilds (only new units are dealt), so the rebuild's splits are checked for
what makes them right (every post placed, no duplicate group or family across two splits)
rather than against a fresh deal.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import catalog_rows as rows
from conftest import set_config

from curation import pipeline
from curation.workspace import init_workspace

STAGES = ("ingest", "select", "images", "embed", "dedupe", "split")
SAME = {
    "posts": "SELECT * EXCLUDE (dump_file) FROM posts",
    "post_tags": "SELECT * FROM post_tags",
    "selection": "SELECT * FROM selection",
    "images": "SELECT * EXCLUDE (path) FROM images",
    "image_hashes": "SELECT * FROM image_hashes WHERE md5 IN (SELECT file_md5 FROM images)",
    "dup_edges": "SELECT * FROM dup_edges",
    "dup_groups": "SELECT * FROM dup_groups",
}


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> Path:
    from curation.synth import generate_board

    board = tmp_path_factory.mktemp("rebuild_board")
    generate_board(board, 240, seed=5, image_size=96, images=True, workers=1, earlier=True)
    return board


def _source(board: Path, folder: Path, metadata: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copytree(metadata, folder / "metadata")
    (folder / "original").symlink_to((board / "original").resolve(), target_is_directory=True)
    return folder


def _build(ws: Path, source: Path) -> None:
    if not ws.exists():
        init_workspace(ws, [source])
        set_config(ws, embed={"image_size": 64}, select={"min_tag_count": 3})
    for name in STAGES:
        pipeline.run_stage(ws, name)


@pytest.mark.slow
def test_a_rebuild_on_a_newer_dump_equals_a_build_from_scratch(snapshots, tmp_path):
    source = _source(snapshots, tmp_path / "source", snapshots / "earlier" / "metadata")
    rebuilt = tmp_path / "rebuilt"
    _build(rebuilt, source)
    shutil.rmtree(source / "metadata")
    shutil.copytree(snapshots / "metadata", source / "metadata")
    _build(rebuilt, source)
    fresh = tmp_path / "fresh"
    _build(fresh, _source(snapshots, tmp_path / "fresh_source", snapshots / "metadata"))

    assert rows(rebuilt, "SELECT count(*) FROM pixel_checks")[0][0] > 0  # the rebuild had old answers to reuse
    for table, query in SAME.items():
        ordered = f"{query} ORDER BY ALL"
        assert rows(rebuilt, ordered) == rows(fresh, ordered), table

    placed = rows(rebuilt, "SELECT count(*) FROM splits")[0][0]
    assert placed == rows(rebuilt, "SELECT count(*) FROM selection")[0][0]
    straddling = """SELECT count(*) FROM (
        SELECT g.group_id FROM dup_groups g JOIN splits s USING (post_id)
        GROUP BY g.group_id HAVING count(DISTINCT s.split) > 1)"""
    assert rows(rebuilt, straddling) == [(0,)]
