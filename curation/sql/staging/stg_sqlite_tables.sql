-- Empty staging tables that SQLite batches are appended to (same columns as the dump staging).
CREATE OR REPLACE TEMP TABLE stg_posts (
    position BIGINT, line VARCHAR, reject_reason VARCHAR, post_id BIGINT, source VARCHAR, created_at TIMESTAMP,
    updated_at TIMESTAMP, md5 VARCHAR, file_ext VARCHAR, file_size BIGINT, image_width INTEGER, image_height INTEGER,
    rating VARCHAR, parent_id BIGINT, has_children BOOLEAN, is_deleted BOOLEAN, is_banned BOOLEAN, is_flagged BOOLEAN,
    is_pending BOOLEAN, score INTEGER, fav_count INTEGER, row_hash UBIGINT
);
CREATE OR REPLACE TEMP TABLE stg_dump_tags (post_id BIGINT, name VARCHAR, category_id INTEGER);
