"""Stage a Danbooru2019-layout SQLite database (images, tags, imageTags) as a posts source.

DuckDB's sqlite extension needs a download, so sqlite-utils reads the rows and hands them to
DuckDB as Arrow batches; from the staging tables on, the ingest is the same as for dumps.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import sqlite_utils

from ..catalog import Catalog
from ..errors import SourceError

BATCH = 100_000
POST_QUERY = """
SELECT id AS post_id, source, created_at, updated_at, md5, file_ext, file_size, image_width, image_height, rating,
       parent_id, has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count
FROM images ORDER BY id
"""
TAG_QUERY = (
    "SELECT it.image_id AS post_id, t.name AS name, t.category AS category_id FROM imageTags it JOIN tags t ON t.id = it.tag_id"
)


def _arrow_batches(db: sqlite_utils.Database, query: str):
    cursor = db.conn.execute(query)
    names = [d[0] for d in cursor.description]
    while rows := cursor.fetchmany(BATCH):
        yield pa.Table.from_pylist([dict(zip(names, r)) for r in rows])


def stage_sqlite(cat: Catalog, path: Path) -> None:
    """Fill stg_posts and stg_dump_tags from one SQLite file."""
    db = sqlite_utils.Database(path)
    try:
        missing = {"images", "tags", "imageTags"} - set(db.table_names())
        if missing:
            raise SourceError(f"{path}: a SQLite database without the table(s) {', '.join(sorted(missing))}")
        cat.run("staging/stg_sqlite_tables")
        for query, step in ((POST_QUERY, "staging/stg_posts_sqlite"), (TAG_QUERY, "staging/stg_dump_tags_sqlite")):
            for batch in _arrow_batches(db, query):
                with cat.registered("sqlite_batch", batch):
                    cat.run(step)
        cat.run("staging/stg_posts_sqlite_hash")
    finally:
        db.close()
