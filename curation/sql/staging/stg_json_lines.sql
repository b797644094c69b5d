-- Danbooru posts, line by line (the careful reader): every line of a JSON-lines file, or every
-- element of a JSON array, parsed once with every field as text (the 2017 exports write
-- numbers as strings; try() makes a malformed object NULL and flags it). A line the fast
-- reader refuses still reaches ingest_rejects with its position and reason this way.
CREATE TEMP TABLE stg_json_rows AS
WITH parsed AS (
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
)
SELECT position, line, j IS NULL AS malformed, j.* FROM parsed;
