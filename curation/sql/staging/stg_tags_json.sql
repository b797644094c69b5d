-- Danbooru's tags export as JSON lines: id, name, category, post_count (other keys ignored).
CREATE OR REPLACE TEMP TABLE stg_tags AS
SELECT TRY_CAST(id AS BIGINT) AS tag_id, lower(trim(name)) AS name, TRY_CAST(category AS INTEGER) AS category_id
FROM read_json($path, format = 'newline_delimited', columns = {'id': 'VARCHAR', 'name': 'VARCHAR', 'category': 'VARCHAR'})
WHERE name IS NOT NULL;
