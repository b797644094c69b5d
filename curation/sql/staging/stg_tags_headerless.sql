-- The autocomplete-style tags.csv without a header: name,category,post_count,"alias1,alias2".
-- It has no tag ids; the catalog assigns them. Every row of that format has a numeric category:
-- a row without one (a file that is not a tag list at all) is rejected (marts/tags_rejects).
CREATE OR REPLACE TEMP TABLE stg_tags AS
SELECT NULL::BIGINT AS tag_id, lower(trim(name)) AS name, TRY_CAST(category AS INTEGER) AS category_id,
       row_number() OVER () AS position, concat_ws(',', name, category, post_count) AS raw,
       CASE WHEN TRY_CAST(category AS INTEGER) IS NULL THEN 'no numeric category (name,category,count)'
            WHEN regexp_matches(trim(name), '[[:space:][:cntrl:]]') THEN 'a space or control character in the name'
       END AS reject_reason
FROM read_csv($path, header = false, delim = ',', auto_detect = false, all_varchar = true, quote = '"', escape = '"', store_rejects = true,
              rejects_table = 'csv_reject_errors', rejects_scan = 'csv_reject_scans', null_padding = true,
              columns = {'name': 'VARCHAR', 'category': 'VARCHAR', 'post_count': 'VARCHAR', 'aliases': 'VARCHAR'})
WHERE name IS NOT NULL;
