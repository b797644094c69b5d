-- Keep posts with at least $min_tags and at most $max_tags (0: no cap) label tags.
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s
LEFT JOIN (SELECT pt.post_id, count(*) AS n FROM post_tags pt JOIN label_tags USING (tag_id) GROUP BY pt.post_id) c USING (post_id)
WHERE coalesce(c.n, 0) >= $min_tags AND ($max_tags = 0 OR coalesce(c.n, 0) <= $max_tags);
