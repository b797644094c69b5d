-- A tag list with a header (e621 tags-*.csv.gz: id,name,category,post_count; the taggers'
-- selected_tags.csv: tag_id,name,category,count). Rating pseudo-tags (category 9) are skipped;
-- a name with a space or a control character is rejected (marts/tags_rejects).
CREATE OR REPLACE TEMP TABLE stg_tags AS
SELECT TRY_CAST(COLUMNS('^(id|tag_id)$') AS BIGINT) AS tag_id, lower(trim(name)) AS name,
       TRY_CAST(category AS INTEGER) AS category_id, row_number() OVER () AS position, name AS raw,
       CASE WHEN regexp_matches(trim(name), '[[:space:][:cntrl:]]') THEN 'a space or control character in the name'
       END AS reject_reason
FROM read_csv($path, header = true, all_varchar = true, quote = '"', escape = '"', store_rejects = true,
              rejects_table = 'csv_reject_errors', rejects_scan = 'csv_reject_scans')
WHERE name IS NOT NULL AND coalesce(TRY_CAST(category AS INTEGER), 0) <> 9;
