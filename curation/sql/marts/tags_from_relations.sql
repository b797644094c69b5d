-- Names that active aliases and implications lead to but no tag list or dump has: add them
-- (with their antecedent's category when known), so canonical tags always have an id.
INSERT INTO tags
WITH targets AS (
    SELECT consequent AS name, antecedent FROM tag_aliases WHERE status = 'active'
    UNION ALL
    SELECT consequent, antecedent FROM tag_implications WHERE status = 'active'
), unknown AS (
    SELECT t.name, mode(a.category_id) AS category_id
    FROM targets t ANTI JOIN tags USING (name)
    LEFT JOIN tags a ON a.name = t.antecedent
    GROUP BY t.name
)
SELECT (SELECT coalesce(max(tag_id), 0) FROM tags) + row_number() OVER (ORDER BY name), u.name, u.category_id, c.category, 0
FROM unknown u LEFT JOIN tag_category_names c USING (category_id);
