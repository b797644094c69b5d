-- Danbooru posts (from either JSON reader's stg_json_rows) into typed columns. Values are
-- cast here whatever their JSON type was, so both readers give the same row, and row_hash
-- (which tells changed rows from unchanged on a re-ingest) is of the typed values: of the bare
-- tag_string and tag objects only when there are no per-category strings (a lean read skips
-- them then, and must hash the same). A row that
-- cannot be a post gets a reject_reason instead of being dropped; the raw line is kept only
-- for rejects (the fast reader has no raw line: the row as read stands in for it).
CREATE OR REPLACE TEMP VIEW stg_posts AS
WITH checked AS (
    SELECT *,
           CASE
               WHEN malformed THEN 'malformed JSON (not one JSON object on the line)'
               WHEN id IS NULL THEN 'row without id'
               -- TRY_CAST rounds '1.5' to 2: a fraction or an exponent is not an id
               WHEN TRY_CAST(id AS BIGINT) IS NULL OR contains(id, '.') OR contains(id, 'e') OR contains(id, 'E')
                   THEN 'id ' || id || ' is not an integer'
               WHEN has_children IS NOT NULL AND TRY_CAST(has_children AS BOOLEAN) IS NULL
                   THEN 'has_children ''' || has_children || ''' is not true or false'
               WHEN is_deleted IS NOT NULL AND TRY_CAST(is_deleted AS BOOLEAN) IS NULL
                   THEN 'is_deleted ''' || is_deleted || ''' is not true or false'
               WHEN is_banned IS NOT NULL AND TRY_CAST(is_banned AS BOOLEAN) IS NULL
                   THEN 'is_banned ''' || is_banned || ''' is not true or false'
               WHEN is_flagged IS NOT NULL AND TRY_CAST(is_flagged AS BOOLEAN) IS NULL
                   THEN 'is_flagged ''' || is_flagged || ''' is not true or false'
               WHEN is_pending IS NOT NULL AND TRY_CAST(is_pending AS BOOLEAN) IS NULL
                   THEN 'is_pending ''' || is_pending || ''' is not true or false'
               WHEN is_json_container(tag_string_general)
                 OR is_json_container(tag_string_artist)
                 OR is_json_container(tag_string_copyright)
                 OR is_json_container(tag_string_character)
                 OR is_json_container(tag_string_meta)
                 OR is_json_container(tag_string)
                   THEN 'a tag string that is a JSON list or object, not text'
               -- 0x01 separates the category strings for the splitter (macros.sql joined_tags)
               WHEN contains(tag_string_general, chr(1)) OR contains(tag_string_artist, chr(1))
                 OR contains(tag_string_copyright, chr(1)) OR contains(tag_string_character, chr(1))
                 OR contains(tag_string_meta, chr(1)) OR contains(tag_string, chr(1))
                   THEN 'a control byte 0x01 in a tag string'
               WHEN created_at IS NOT NULL AND TRY_CAST(created_at AS TIMESTAMPTZ) IS NULL
                   THEN 'created_at ''' || created_at || ''' is not a timestamp'
               WHEN lower(rating) NOT IN ('g', 's', 'q', 'e') OR rating IS NULL
                   THEN 'unknown rating ' || coalesce('''' || rating || '''', 'NULL')
               WHEN TRY_CAST(image_width AS INTEGER) < 0 OR TRY_CAST(image_height AS INTEGER) < 0
                   THEN 'impossible size ' || image_width || 'x' || image_height
               WHEN TRY_CAST(file_size AS BIGINT) < 0 THEN 'impossible file_size ' || file_size
           END AS reject_reason
    FROM stg_json_rows
), typed AS (
    SELECT position,
           CASE WHEN reject_reason IS NOT NULL
                THEN coalesce(line, json_object('id', id, 'created_at', created_at, 'md5', md5, 'rating', rating,
                                                'image_width', image_width, 'image_height', image_height,
                                                'file_size', file_size)::VARCHAR) END AS line,
           reject_reason,
           TRY_CAST(id AS BIGINT) AS post_id,
           source,
           utc_time(TRY_CAST(created_at AS TIMESTAMPTZ)) AS created_at,
           utc_time(TRY_CAST(updated_at AS TIMESTAMPTZ)) AS updated_at,
           lower(md5) AS md5,
           lower(file_ext) AS file_ext,
           TRY_CAST(file_size AS BIGINT) AS file_size,
           TRY_CAST(image_width AS INTEGER) AS image_width,
           TRY_CAST(image_height AS INTEGER) AS image_height,
           lower(rating) AS rating,
           nullif(TRY_CAST(parent_id AS BIGINT), 0) AS parent_id,
           coalesce(TRY_CAST(has_children AS BOOLEAN), false) AS has_children,
           coalesce(TRY_CAST(is_deleted AS BOOLEAN), false) AS is_deleted,
           coalesce(TRY_CAST(is_banned AS BOOLEAN), false) AS is_banned,
           coalesce(TRY_CAST(is_flagged AS BOOLEAN), false) AS is_flagged,
           coalesce(TRY_CAST(is_pending AS BOOLEAN), false) AS is_pending,
           TRY_CAST(score AS INTEGER) AS score,
           TRY_CAST(fav_count AS INTEGER) AS fav_count,
           tag_string, tag_string_general, tag_string_artist, tag_string_copyright, tag_string_character,
           tag_string_meta, tags
    FROM checked
)
SELECT *,
       hash(created_at, updated_at, source, md5, file_ext, file_size, image_width, image_height, rating, parent_id,
            has_children, is_deleted, is_banned, is_flagged, is_pending, score, fav_count,
            tag_string_general, tag_string_artist, tag_string_copyright, tag_string_character, tag_string_meta,
            CASE WHEN tag_string_general IS NULL THEN tag_string END,
            CASE WHEN tag_string_general IS NULL THEN tags::VARCHAR END) AS row_hash
FROM typed;
