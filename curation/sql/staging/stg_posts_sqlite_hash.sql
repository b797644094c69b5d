-- SQLite posts: a row hash over the post's values and its tags (staged separately), to tell
-- changed rows from unchanged.
UPDATE stg_posts SET row_hash = hash(post_id, created_at, updated_at, md5, file_ext, file_size, image_width,
    image_height, rating, parent_id, has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count,
    coalesce((SELECT bit_xor(hash(d.name, d.category_id)) FROM stg_dump_tags d WHERE d.post_id = stg_posts.post_id), 0));
