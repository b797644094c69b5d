-- Danbooru posts from JSON text (2017-2020 exports, 2021+ exports, the API) into typed
-- columns. Every field is read as text and cast here, because the 2017 exports write numbers
-- as strings; a row that cannot be a post gets a reject_reason instead of being dropped.
-- Each line is parsed once (try() makes a malformed object NULL); the raw line is kept only
-- for rejects, so a large dump is never held in memory as text.
CREATE OR REPLACE TEMP TABLE stg_posts AS
WITH typed AS (
    SELECT position, line,
           CASE WHEN ltrim(line)[1] = '{' THEN try(json_transform(line, '{
               "id": "VARCHAR", "created_at": "VARCHAR", "updated_at": "VARCHAR", "source": "VARCHAR",
               "md5": "VARCHAR", "file_ext": "VARCHAR", "file_size": "VARCHAR", "image_width": "VARCHAR",
               "image_height": "VARCHAR", "rating": "VARCHAR", "parent_id": "VARCHAR", "has_children": "VARCHAR",
               "is_deleted": "VARCHAR", "is_banned": "VARCHAR", "is_flagged": "VARCHAR", "is_pending": "VARCHAR",
               "score": "VARCHAR", "fav_count": "VARCHAR", "tag_string": "VARCHAR",
               "tag_string_general": "VARCHAR", "tag_string_artist": "VARCHAR", "tag_string_copyright": "VARCHAR",
               "tag_string_character": "VARCHAR", "tag_string_meta": "VARCHAR",
               "tags": [{"name": "VARCHAR", "category": "VARCHAR"}]
           }')) END AS j
    FROM post_lines($path, $sep, $is_array)
), checked AS (
    SELECT position, line, j,
           CASE
               WHEN j IS NULL THEN 'malformed JSON (not one JSON object on the line)'
               WHEN j.id IS NULL THEN 'row without id'
               WHEN TRY_CAST(j.id AS BIGINT) IS NULL THEN 'id ' || j.id || ' is not an integer'
               WHEN j.created_at IS NOT NULL AND TRY_CAST(j.created_at AS TIMESTAMPTZ) IS NULL
                   THEN 'created_at ''' || j.created_at || ''' is not a timestamp'
               WHEN lower(j.rating) NOT IN ('g', 's', 'q', 'e') OR j.rating IS NULL
                   THEN 'unknown rating ' || coalesce('''' || j.rating || '''', 'NULL')
               WHEN TRY_CAST(j.image_width AS INTEGER) < 0 OR TRY_CAST(j.image_height AS INTEGER) < 0
                   THEN 'impossible size ' || j.image_width || 'x' || j.image_height
               WHEN TRY_CAST(j.file_size AS BIGINT) < 0 THEN 'impossible file_size ' || j.file_size
           END AS reject_reason
    FROM typed
)
SELECT position,
       CASE WHEN reject_reason IS NOT NULL THEN line END AS line,
       reject_reason,
       TRY_CAST(j.id AS BIGINT) AS post_id,
       j.source AS source,
       timezone('UTC', TRY_CAST(j.created_at AS TIMESTAMPTZ)) AS created_at,
       timezone('UTC', TRY_CAST(j.updated_at AS TIMESTAMPTZ)) AS updated_at,
       lower(j.md5) AS md5,
       lower(j.file_ext) AS file_ext,
       TRY_CAST(j.file_size AS BIGINT) AS file_size,
       TRY_CAST(j.image_width AS INTEGER) AS image_width,
       TRY_CAST(j.image_height AS INTEGER) AS image_height,
       lower(j.rating) AS rating,
       nullif(TRY_CAST(j.parent_id AS BIGINT), 0) AS parent_id,
       coalesce(TRY_CAST(j.has_children AS BOOLEAN), false) AS has_children,
       coalesce(TRY_CAST(j.is_deleted AS BOOLEAN), false) AS is_deleted,
       coalesce(TRY_CAST(j.is_banned AS BOOLEAN), false) AS is_banned,
       coalesce(TRY_CAST(j.is_flagged AS BOOLEAN), false) AS is_flagged,
       coalesce(TRY_CAST(j.is_pending AS BOOLEAN), false) AS is_pending,
       TRY_CAST(j.score AS INTEGER) AS score,
       TRY_CAST(j.fav_count AS INTEGER) AS fav_count,
       j.tag_string, j.tag_string_general, j.tag_string_artist, j.tag_string_copyright, j.tag_string_character,
       j.tag_string_meta, j.tags,
       hash(j.created_at, j.updated_at, j.source, j.md5, j.file_ext, j.file_size, j.image_width, j.image_height,
            j.rating, j.parent_id, j.has_children, j.is_deleted, j.is_banned, j.is_flagged, j.is_pending, j.score,
            j.fav_count, j.tag_string, j.tag_string_general, j.tag_string_artist, j.tag_string_copyright,
            j.tag_string_character, j.tag_string_meta, j.tags::VARCHAR) AS row_hash  -- tells changed rows from unchanged
FROM checked;
