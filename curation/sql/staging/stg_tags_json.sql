-- Danbooru's tags export as JSON lines: id, name, category, post_count (other keys ignored). A
-- name with a space or a control character is rejected (marts/tags_rejects).
CREATE OR REPLACE TEMP TABLE stg_tags AS
SELECT TRY_CAST(id AS BIGINT) AS tag_id, lower(trim(name)) AS name, TRY_CAST(category AS INTEGER) AS category_id,
       row_number() OVER () AS position, name AS raw,
       CASE WHEN regexp_matches(trim(name), '[[:space:][:cntrl:]]') THEN 'a space or control character in the name'
       END AS reject_reason
FROM read_json($path, format = 'newline_delimited', columns = {'id': 'VARCHAR', 'name': 'VARCHAR', 'category': 'VARCHAR'})
WHERE name IS NOT NULL;
