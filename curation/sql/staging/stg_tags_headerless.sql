-- The autocomplete-style tags.csv without a header: name,category,post_count,"alias1,alias2".
-- It has no tag ids; the catalog assigns them.
CREATE OR REPLACE TEMP TABLE stg_tags AS
SELECT NULL::BIGINT AS tag_id, lower(trim(name)) AS name, TRY_CAST(category AS INTEGER) AS category_id
FROM read_csv($path, header = false, all_varchar = true, quote = '"', escape = '"', store_rejects = true,
              rejects_table = 'csv_reject_errors', rejects_scan = 'csv_reject_scans', null_padding = true,
              columns = {'name': 'VARCHAR', 'category': 'VARCHAR', 'post_count': 'VARCHAR', 'aliases': 'VARCHAR'})
WHERE name IS NOT NULL;
