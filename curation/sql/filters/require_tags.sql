-- Keep posts that have every tag in $tags (names canonicalised: canonical_tag).
CREATE OR REPLACE TEMP TABLE selection_out AS
WITH wanted AS (
    SELECT DISTINCT canonical_tag(w.name) AS name FROM (SELECT unnest($tags) AS name) w
)
SELECT s.post_id FROM selection_in s
JOIN post_tags pt USING (post_id) JOIN tags t USING (tag_id) JOIN wanted w ON w.name = t.name
GROUP BY s.post_id
HAVING count(DISTINCT t.name) = (SELECT count(*) FROM wanted);
