-- The batch when every post in it is new to the catalog and no id repeats (a first ingest):
-- everything is written as it is, without the joins that pick changed rows.
INSERT INTO dump_tags SELECT post_id, tag_ids FROM batch_dump_tags;
INSERT INTO posts
SELECT post_id, source, created_at, updated_at, md5, file_ext, file_size, image_width, image_height, rating,
       parent_id, has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count, dump_file,
       false AS is_removed, row_hash
FROM batch_final;
