-- Candidate label tags: tags of the selected posts in the kept categories ($categories; empty:
-- all), minus dropped names ($drop_tags, canonicalised) and listed ones (blacklists,
-- deprecations), counted within the selection, then cut by $min_count and $top_n (0: no cap).
CREATE OR REPLACE TEMP TABLE label_tags AS
WITH dropped AS (
    SELECT DISTINCT canonical_tag(d.name) AS name FROM (SELECT unnest($drop_tags::VARCHAR[]) AS name) d
), counted AS (
    SELECT t.tag_id, t.name, t.category, count(*) AS count
    FROM selection_in s JOIN post_tags pt USING (post_id) JOIN tags t USING (tag_id)
    WHERE (len($categories::VARCHAR[]) = 0 OR list_contains($categories::VARCHAR[], t.category))
      AND t.name NOT IN (SELECT name FROM dropped)
    GROUP BY ALL
    HAVING count(*) >= $min_count
)
SELECT * FROM counted
QUALIFY $top_n = 0 OR row_number() OVER (ORDER BY count DESC, name) <= $top_n;
