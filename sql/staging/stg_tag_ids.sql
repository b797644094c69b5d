-- The staged file's dump tags with their tag ids: one pass over stg_dump_tags (any format).
-- Names no tag list knows keep their name and category (tag_id NULL) until
-- marts/tags_from_staging gives them ids; the rest carry only integers.
CREATE OR REPLACE TEMP TABLE stg_tag_ids AS
SELECT s.post_id, t.tag_id, CASE WHEN t.tag_id IS NULL THEN s.name END AS name, s.category_id
FROM stg_dump_tags s LEFT JOIN tags t USING (name);
