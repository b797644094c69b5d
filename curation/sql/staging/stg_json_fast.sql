-- Danbooru posts from a JSON-lines file with DuckDB's own typed JSON reader (the fast path,
-- several times quicker than parsing line by line), as a view that staging/stg_staged reads
-- once. The reader refuses the whole file on the first line that is not a JSON object or has
-- a value of the wrong type; the ingest then reads the file line by line instead, so every
-- bad line is still reported. id stays text so that an id that is not an integer is rejected
-- exactly as the careful reader rejects it.
-- The view is lean: it reads neither the bare tag_string nor 2017-style tag objects (NULL
-- here), which cost a fifth of the read, and suits files whose posts have per-category tag
-- strings (2021+ exports, the API). The ingest replaces it with every column
-- (staging/stg_json_fast_full) for other files, or when an accepted post turns out to lack
-- tag_string_general.
SET VARIABLE stg_path = $path;
SET VARIABLE stg_json_columns = {
    'id': 'VARCHAR', 'created_at': 'TIMESTAMPTZ', 'updated_at': 'TIMESTAMPTZ', 'source': 'VARCHAR', 'md5': 'VARCHAR',
    'file_ext': 'VARCHAR', 'file_size': 'BIGINT', 'image_width': 'INTEGER', 'image_height': 'INTEGER',
    'rating': 'VARCHAR', 'parent_id': 'BIGINT', 'has_children': 'BOOLEAN', 'is_deleted': 'BOOLEAN',
    'is_banned': 'BOOLEAN', 'is_flagged': 'BOOLEAN', 'is_pending': 'BOOLEAN', 'score': 'INTEGER',
    'fav_count': 'INTEGER', 'tag_string_general': 'VARCHAR', 'tag_string_artist': 'VARCHAR',
    'tag_string_copyright': 'VARCHAR', 'tag_string_character': 'VARCHAR', 'tag_string_meta': 'VARCHAR'
};
CREATE OR REPLACE TEMP VIEW stg_json AS
SELECT *, NULL::VARCHAR AS tag_string, NULL::STRUCT(name VARCHAR, category VARCHAR)[] AS tags
FROM read_json(getvariable('stg_path'), format = 'newline_delimited', maximum_object_size = 4000000,
               columns = getvariable('stg_json_columns'));
