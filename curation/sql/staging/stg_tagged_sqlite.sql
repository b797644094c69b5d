-- Staged SQLite posts with their tags, staged one row per (post, name, category_id), as the
-- per-category strings that staging/stg_staged joins; a category outside 0-8 (or none) joins
-- the bare one.
CREATE OR REPLACE TEMP VIEW stg_tagged AS
SELECT p.*, t.* EXCLUDE (post_id)
FROM stg_posts p LEFT JOIN (
    SELECT post_id,
           string_agg(name, ' ') FILTER (WHERE category_id = 0) AS c0,
           string_agg(name, ' ') FILTER (WHERE category_id = 1) AS c1,
           string_agg(name, ' ') FILTER (WHERE category_id = 2) AS c2,
           string_agg(name, ' ') FILTER (WHERE category_id = 3) AS c3,
           string_agg(name, ' ') FILTER (WHERE category_id = 4) AS c4,
           string_agg(name, ' ') FILTER (WHERE category_id = 5) AS c5,
           string_agg(name, ' ') FILTER (WHERE category_id = 6) AS c6,
           string_agg(name, ' ') FILTER (WHERE category_id = 7) AS c7,
           string_agg(name, ' ') FILTER (WHERE category_id = 8) AS c8,
           string_agg(name, ' ') FILTER (WHERE category_id IS NULL OR category_id NOT BETWEEN 0 AND 8) AS bare
    FROM stg_dump_tags
    GROUP BY post_id
) t USING (post_id);
