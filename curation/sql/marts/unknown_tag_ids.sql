-- The ids marts/tags_from_staging gave the unknown names, in their given order.
SELECT t.tag_id FROM stg_unknown_tags u JOIN tags t USING (name) ORDER BY u.ord;
