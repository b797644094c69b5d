-- Drop posts that have any tag in $tags (names canonicalised through active aliases).
CREATE OR REPLACE TEMP TABLE selection_out AS
WITH unwanted AS (
    SELECT DISTINCT coalesce(a.consequent, w.name) AS name
    FROM (SELECT unnest($tags) AS name) w LEFT JOIN tag_aliases a ON a.antecedent = w.name AND a.status = 'active'
)
SELECT s.post_id FROM selection_in s
WHERE NOT EXISTS (
    SELECT 1 FROM post_tags pt JOIN tags t USING (tag_id) JOIN unwanted u ON u.name = t.name WHERE pt.post_id = s.post_id
);
