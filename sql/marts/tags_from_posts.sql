-- Names posts use that no tag list knows: add them with the category the dump gave (most
-- common) and ids after the largest known one.
INSERT INTO tags
WITH unknown AS (
    SELECT name, mode(category_id) AS category_id FROM canonical_tags
    WHERE name NOT IN (SELECT name FROM tags) GROUP BY name
)
SELECT (SELECT coalesce(max(tag_id), 0) FROM tags) + row_number() OVER (ORDER BY name), u.name, u.category_id, c.category, 0
FROM unknown u LEFT JOIN tag_category_names c USING (category_id);
