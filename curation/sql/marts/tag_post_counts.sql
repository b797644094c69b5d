-- Each tag's number of live (not removed) posts, counted with the canonical tags (registered
-- as tag_live_counts: tag_id, posts); categories filled from the category names.
UPDATE tags SET post_count = coalesce(n.posts, 0), category = coalesce(c.category, tags.category)
FROM tags t2
LEFT JOIN tag_live_counts n ON n.tag_id = t2.tag_id
LEFT JOIN tag_category_names c ON c.category_id = t2.category_id
WHERE tags.name = t2.name;
