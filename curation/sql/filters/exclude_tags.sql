-- Drop posts that have any tag in $tags (names canonicalised: canonical_tag).
CREATE OR REPLACE TEMP TABLE selection_out AS
WITH unwanted AS (
    SELECT DISTINCT canonical_tag(w.name) AS name FROM (SELECT unnest($tags) AS name) w
)
SELECT s.post_id FROM selection_in s
WHERE NOT EXISTS (
    SELECT 1 FROM post_tags pt JOIN tags t USING (tag_id) JOIN unwanted u ON u.name = t.name WHERE pt.post_id = s.post_id
);
