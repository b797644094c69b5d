-- The tags of the accepted JSON posts as one lower-cased string per category id (c0 general,
-- c1 artist, c3 copyright, c4 character, c5 meta), split later by curation/ingest/tag_split:
-- per-category tag strings (2021+ exports and the API), tag objects grouped by their category
-- (2017-2020), or a bare tag_string whose categories come from the tags table. Tag objects
-- whose category is not 0-8 join the bare string.
CREATE OR REPLACE TEMP VIEW stg_tag_strings AS
WITH objects AS (
    SELECT post_id, tag_string, tag_string_general, tag_string_artist, tag_string_copyright, tag_string_character,
           tag_string_meta, list_transform(tags, lambda t: {'name': t.name, 'c': TRY_CAST(t.category AS INTEGER)}) AS tags
    FROM stg_posts WHERE reject_reason IS NULL
)
SELECT post_id,
       lower(coalesce(tag_string_general, object_names(tags, 0))) AS c0,
       lower(coalesce(tag_string_artist, object_names(tags, 1))) AS c1,
       lower(object_names(tags, 2)) AS c2,
       lower(coalesce(tag_string_copyright, object_names(tags, 3))) AS c3,
       lower(coalesce(tag_string_character, object_names(tags, 4))) AS c4,
       lower(coalesce(tag_string_meta, object_names(tags, 5))) AS c5,
       lower(object_names(tags, 6)) AS c6,
       lower(object_names(tags, 7)) AS c7,
       lower(object_names(tags, 8)) AS c8,
       lower(CASE WHEN tags IS NOT NULL
                  THEN array_to_string(list_transform(list_filter(tags, lambda t: t.c IS NULL OR t.c NOT BETWEEN 0 AND 8),
                                                      lambda t: t.name), ' ')
                  WHEN tag_string_general IS NULL THEN tag_string END) AS bare
FROM objects;
