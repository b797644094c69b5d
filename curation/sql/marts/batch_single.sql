-- The batch of a source with one file is that file's accepted rows as they were staged (a view:
-- no copy), in the columns of marts/batch_tables.
SET VARIABLE batch_dump_file = $dump_file;
CREATE OR REPLACE TEMP VIEW batch_posts AS
SELECT post_id, source, created_at, updated_at, md5, file_ext, file_size, image_width, image_height, rating,
       parent_id, has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count,
       getvariable('batch_dump_file')::VARCHAR AS dump_file, 0 AS file_order, position, row_hash
FROM stg_rows WHERE reject_reason IS NULL;
