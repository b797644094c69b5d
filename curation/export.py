"""``curate export-sqlite``: the selection as a SQLite database in the Danbooru2019 layout."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from .catalog import open_catalog
from .errors import StageNotRun, WorkspaceError
from .progress import progress
from .sqlite_layout import IMAGE_COLUMNS, IMAGE_TAG_COLUMNS, TAG_COLUMNS

BATCH = 50_000


def _batches(cursor, columns: list[str]):
    while True:
        rows = cursor.fetchmany(BATCH)
        if not rows:
            return
        yield [dict(zip(columns, r)) for r in rows]


def export_sqlite(workspace: Path | str, out: Path | str, overwrite: bool = False) -> dict[str, int]:
    """Write the selected posts, their label tags and post-tag pairs to ``out``; returns row counts."""
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise WorkspaceError(f"{out} already exists; pass --overwrite to replace it")
        out.unlink()
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("selection"):
            raise StageNotRun(f"{workspace}: no selection yet; run `curate select {workspace}` first")
        db = sqlite_utils.Database(out)
        db["images"].create(IMAGE_COLUMNS, pk="id")
        db["tags"].create(TAG_COLUMNS, pk="id")
        db["imageTags"].create(IMAGE_TAG_COLUMNS, pk=("image_id", "tag_id"))
        counts = {}
        queries = {
            "images": "SELECT p.post_id, strftime(p.created_at, '%Y-%m-%d %H:%M:%S'), "
            "strftime(p.updated_at, '%Y-%m-%d %H:%M:%S'), "
            "p.md5, p.file_ext, p.file_size, p.image_width, p.image_height, p.rating, p.score, p.fav_count, "
            "p.parent_id, p.has_children::INT, p.is_deleted::INT, p.is_banned::INT, p.is_flagged::INT, "
            "p.is_pending::INT, p.source FROM selection s JOIN posts p USING (post_id) ORDER BY p.post_id",
            "tags": "SELECT s.tag_id, s.name, t.category_id, s.count "
            "FROM selected_tags s JOIN tags t USING (tag_id) ORDER BY s.tag_id",
            "imageTags": "SELECT pt.post_id, pt.tag_id FROM selection s JOIN post_tags pt USING (post_id) "
            "JOIN selected_tags st USING (tag_id) ORDER BY 1, 2",
        }
        columns = {"images": list(IMAGE_COLUMNS), "tags": list(TAG_COLUMNS), "imageTags": list(IMAGE_TAG_COLUMNS)}
        for table, query in queries.items():
            total = cat.scalar(f"SELECT count(*) FROM ({query})")
            cursor = cat.con.cursor()
            cursor.execute(query)
            with progress(f"writing {table}", total) as advance:
                for batch in _batches(cursor, columns[table]):
                    db[table].insert_all(batch, batch_size=BATCH)
                    advance(len(batch))
            counts[table] = total
        db["imageTags"].create_index(["tag_id"])
        db.close()
    return counts
