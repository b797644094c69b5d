-- Label tags to stratify on: each selected post's selected tags that at least $min_posts
-- selected posts carry.
SELECT pt.post_id, pt.tag_id
FROM selection s
JOIN post_tags pt USING (post_id)
JOIN selected_tags st ON st.tag_id = pt.tag_id AND st.count >= $min_posts
ORDER BY pt.post_id, pt.tag_id;
