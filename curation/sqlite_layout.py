"""The Danbooru2019-style SQLite layout that existing Danbooru tooling reads: tables
``images`` (one row a post), ``tags`` and ``imageTags`` (post-tag pairs). Read and written
with sqlite-utils (DuckDB's sqlite extension cannot be installed offline).
"""

from __future__ import annotations

IMAGE_COLUMNS = {  # column -> SQLite type
    "id": int,
    "created_at": str,
    "updated_at": str,
    "md5": str,
    "file_ext": str,
    "file_size": int,
    "image_width": int,
    "image_height": int,
    "rating": str,
    "score": int,
    "fav_count": int,
    "parent_id": int,
    "has_children": int,
    "is_deleted": int,
    "is_banned": int,
    "is_flagged": int,
    "is_pending": int,
    "source": str,
}
TAG_COLUMNS = {"id": int, "name": str, "category": int, "post_count": int}
IMAGE_TAG_COLUMNS = {"image_id": int, "tag_id": int}
