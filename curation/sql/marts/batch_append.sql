-- Append one staged file's accepted posts to the batch of its source, tagged with the file
-- and its order, so a later row for the same id can replace an earlier one.
INSERT INTO batch_posts
SELECT post_id, source, created_at, updated_at, md5, file_ext, file_size, image_width, image_height, rating,
       parent_id, has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count,
       $dump_file AS dump_file, $file_order AS file_order, position, row_hash
FROM stg_rows WHERE reject_reason IS NULL;
