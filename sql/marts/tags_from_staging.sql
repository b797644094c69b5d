-- Names the staged posts use that no tag list knows: add them with the category the dump gave
-- (the most common one) and ids after the largest known one, so dump tags can be stored and
-- joined as integers.
INSERT INTO tags
WITH unknown AS (
    SELECT name, mode(category_id) AS category_id
    FROM stg_tag_ids WHERE tag_id IS NULL
    GROUP BY name
)
SELECT (SELECT coalesce(max(tag_id), 0) FROM tags) + row_number() OVER (ORDER BY name), u.name, u.category_id, c.category, 0
FROM unknown u LEFT JOIN tag_category_names c USING (category_id);
