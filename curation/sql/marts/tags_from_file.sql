-- Upsert a staged tag list: new names get the file's id (or the next free one); a known name
-- keeps its id and takes the file's category.
INSERT OR REPLACE INTO tags
WITH staged AS (
    SELECT name, any_value(tag_id) AS tag_id, any_value(category_id) AS category_id FROM stg_tags
    WHERE reject_reason IS NULL GROUP BY name
), numbered AS (
    SELECT s.name, coalesce(t.tag_id, s.tag_id) AS tag_id, coalesce(s.category_id, t.category_id) AS category_id,
           coalesce(t.post_count, 0) AS post_count,
           row_number() OVER (ORDER BY s.name) AS n
    FROM staged s LEFT JOIN tags t USING (name)
)
SELECT coalesce(n.tag_id, (SELECT coalesce(max(tag_id), 0) FROM tags) + 1000000000 + n.n) AS tag_id,
       n.name, n.category_id, c.category, n.post_count
FROM numbered n LEFT JOIN tag_category_names c USING (category_id);
