-- The tags of the accepted JSON posts, as written: per-category tag strings (2021+ exports
-- and the API; categories 0 general, 1 artist, 3 copyright, 4 character, 5 meta), tag objects
-- (2017-2020), or a bare tag_string whose categories come from the tags table later.
-- One simple split per field (faster than building lists of structs); a name repeated in
-- one post collapses when tags are canonicalised.
CREATE OR REPLACE TEMP TABLE stg_dump_tags AS
WITH accepted AS (SELECT * FROM stg_posts WHERE reject_reason IS NULL),
split AS (
    SELECT post_id, unnest(string_split(tag_string_general, ' ')) AS name, 0 AS category_id FROM accepted WHERE tag_string_general IS NOT NULL
    UNION ALL
    SELECT post_id, unnest(string_split(tag_string_artist, ' ')), 1 FROM accepted WHERE tag_string_artist IS NOT NULL
    UNION ALL
    SELECT post_id, unnest(string_split(tag_string_copyright, ' ')), 3 FROM accepted WHERE tag_string_copyright IS NOT NULL
    UNION ALL
    SELECT post_id, unnest(string_split(tag_string_character, ' ')), 4 FROM accepted WHERE tag_string_character IS NOT NULL
    UNION ALL
    SELECT post_id, unnest(string_split(tag_string_meta, ' ')), 5 FROM accepted WHERE tag_string_meta IS NOT NULL
    UNION ALL
    SELECT post_id, t.name, TRY_CAST(t.category AS INTEGER) FROM (SELECT post_id, unnest(tags) AS t FROM accepted WHERE tags IS NOT NULL)
    UNION ALL
    SELECT post_id, unnest(string_split(tag_string, ' ')), NULL::INTEGER FROM accepted
    WHERE tag_string_general IS NULL AND tags IS NULL AND tag_string IS NOT NULL
)
SELECT post_id, lower(trim(name)) AS name, category_id FROM split WHERE trim(name) <> '';
