-- Write new and changed posts (and their dump tags); unchanged rows are left alone so that a
-- re-ingest of the same dump changes nothing. Delete-then-insert: cheaper than upserting
-- through the primary-key index row by row.
CREATE OR REPLACE TEMP TABLE batch_changed AS
SELECT b.* FROM batch_final b LEFT JOIN posts p USING (post_id)
WHERE p.post_id IS NULL OR p.row_hash <> b.row_hash OR p.is_removed;
DELETE FROM dump_tags WHERE post_id IN (SELECT post_id FROM batch_changed);
INSERT INTO dump_tags
SELECT t.post_id, t.tag_ids
FROM batch_dump_tags t JOIN batch_changed c ON c.post_id = t.post_id AND c.file_order = t.file_order
QUALIFY row_number() OVER (PARTITION BY t.post_id ORDER BY t.ordinal DESC) = 1;  -- a file's last row of the id
DELETE FROM posts WHERE post_id IN (SELECT post_id FROM batch_changed);
INSERT INTO posts
SELECT post_id, source, created_at, updated_at, md5, file_ext, file_size, image_width, image_height, rating,
       parent_id, has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count, dump_file,
       false AS is_removed, row_hash
FROM batch_changed;
