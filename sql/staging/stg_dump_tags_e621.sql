-- The tags of accepted e621 posts: tag_string has no categories; they come from tags-*.csv.gz.
CREATE OR REPLACE TEMP TABLE stg_dump_tags AS
SELECT DISTINCT post_id, lower(trim(name)) AS name, NULL::INTEGER AS category_id
FROM (SELECT post_id, unnest(string_split(coalesce(tag_string, ''), ' ')) AS name FROM stg_posts WHERE reject_reason IS NULL)
WHERE trim(name) <> '';
