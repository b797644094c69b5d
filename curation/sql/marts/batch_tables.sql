-- The empty batch of one source's posts (their dump tags are kept in memory by the ingest and
-- registered as batch_dump_tags: post_id, tag_ids, file_order, ordinal, when the batch is written).
CREATE OR REPLACE TEMP TABLE batch_posts AS
SELECT post_id, source, created_at, updated_at, md5, file_ext, file_size, image_width, image_height, rating,
       parent_id, has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count,
       ''::VARCHAR AS dump_file, 0 AS file_order, 0::BIGINT AS position, row_hash
FROM posts WHERE false;
