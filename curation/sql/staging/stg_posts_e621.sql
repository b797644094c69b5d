-- e621 db_export posts (CSV, gzipped or not) into the same typed columns as the Danbooru
-- staging. Booleans are t/f; descriptions and sources span lines inside quotes. Records the CSV
-- reader cannot split (wrong column count, bad quoting, not UTF-8) go to its rejects table;
-- a record that cannot be a post gets a reject_reason and keeps its raw text. A view: the CSV
-- is read once, by staging/stg_staged (its rejects table is filled then).
SET VARIABLE stg_path = $path;
CREATE OR REPLACE TEMP VIEW stg_posts AS
WITH raw AS (
    SELECT row_number() OVER () AS position, r
    FROM read_csv(getvariable('stg_path'), header = true, all_varchar = true, quote = '"', escape = '"', auto_detect = false,
                  strict_mode = false,  -- an unclosed quote costs the records it runs into, not the file
                  store_rejects = true, rejects_table = 'csv_reject_errors', rejects_scan = 'csv_reject_scans',
                  max_line_size = 4000000, columns = {
                      'id': 'VARCHAR', 'uploader_id': 'VARCHAR', 'created_at': 'VARCHAR', 'md5': 'VARCHAR',
                      'source': 'VARCHAR', 'rating': 'VARCHAR', 'image_width': 'VARCHAR', 'image_height': 'VARCHAR',
                      'tag_string': 'VARCHAR', 'locked_tags': 'VARCHAR', 'fav_count': 'VARCHAR', 'file_ext': 'VARCHAR',
                      'parent_id': 'VARCHAR', 'change_seq': 'VARCHAR', 'approver_id': 'VARCHAR', 'file_size': 'VARCHAR',
                      'comment_count': 'VARCHAR', 'description': 'VARCHAR', 'duration': 'VARCHAR',
                      'updated_at': 'VARCHAR', 'is_deleted': 'VARCHAR', 'is_pending': 'VARCHAR',
                      'is_flagged': 'VARCHAR', 'score': 'VARCHAR', 'up_score': 'VARCHAR', 'down_score': 'VARCHAR',
                      'is_rating_locked': 'VARCHAR', 'is_status_locked': 'VARCHAR', 'is_note_locked': 'VARCHAR'
                  }) AS r
), checked AS (
    SELECT position, r,
           CASE
               WHEN r.id IS NULL OR r.id = '' THEN 'row without id'
               WHEN TRY_CAST(r.id AS BIGINT) IS NULL THEN 'id ' || r.id || ' is not an integer'
               WHEN TRY_CAST(r.created_at || '+00' AS TIMESTAMPTZ) IS NULL
                   THEN 'created_at ' || coalesce('''' || r.created_at || '''', 'NULL') || ' is not a timestamp'
               WHEN lower(r.rating) NOT IN ('s', 'q', 'e') OR r.rating IS NULL
                   THEN 'unknown rating ' || coalesce('''' || r.rating || '''', 'NULL')
               WHEN TRY_CAST(r.image_width AS INTEGER) < 0 OR TRY_CAST(r.image_height AS INTEGER) < 0
                   THEN 'impossible size ' || r.image_width || 'x' || r.image_height
           END AS reject_reason
    FROM raw
)
SELECT position,
       CASE WHEN reject_reason IS NOT NULL THEN to_json(r)::VARCHAR END AS line,
       reject_reason,
       TRY_CAST(r.id AS BIGINT) AS post_id,
       r.source AS source,
       utc_time(TRY_CAST(r.created_at || '+00' AS TIMESTAMPTZ)) AS created_at,
       utc_time(TRY_CAST(nullif(r.updated_at, '') || '+00' AS TIMESTAMPTZ)) AS updated_at,
       lower(r.md5) AS md5,
       lower(r.file_ext) AS file_ext,
       TRY_CAST(r.file_size AS BIGINT) AS file_size,
       TRY_CAST(r.image_width AS INTEGER) AS image_width,
       TRY_CAST(r.image_height AS INTEGER) AS image_height,
       lower(r.rating) AS rating,
       nullif(TRY_CAST(nullif(r.parent_id, '') AS BIGINT), 0) AS parent_id,
       false AS has_children,
       coalesce(TRY_CAST(r.is_deleted AS BOOLEAN), false) AS is_deleted,
       false AS is_banned,
       coalesce(TRY_CAST(r.is_flagged AS BOOLEAN), false) AS is_flagged,
       coalesce(TRY_CAST(r.is_pending AS BOOLEAN), false) AS is_pending,
       TRY_CAST(r.score AS INTEGER) AS score,
       TRY_CAST(r.fav_count AS INTEGER) AS fav_count,
       r.tag_string AS tag_string,
       hash(r) AS row_hash  -- tells changed rows from unchanged
FROM checked;
