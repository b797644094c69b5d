-- Each tag's number of live (not removed) posts; categories filled from the category names.
UPDATE tags SET post_count = coalesce(n.posts, 0), category = coalesce(c.category, tags.category)
FROM tags t2
LEFT JOIN (SELECT pt.tag_id, count(*) AS posts FROM post_tags pt JOIN posts p USING (post_id) WHERE NOT p.is_removed GROUP BY pt.tag_id) n
    ON n.tag_id = t2.tag_id
LEFT JOIN tag_category_names c ON c.category_id = t2.category_id
WHERE tags.name = t2.name;
