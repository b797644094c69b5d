-- Staged JSON posts with their tags as one string per category id (c0 general,
-- c1 artist, c3 copyright, c4 character, c5 meta), joined and split later (staging/stg_staged,
-- curation/ingest/tag_split): per-category tag strings (2021+ exports and the API), tag
-- objects grouped by their category (2017-2020), or a bare tag_string whose categories come
-- from the tags table. Tag objects whose category is not 0-8 join the bare string. The list
-- work runs only for posts that have tag objects (CASE evaluates a branch only for its rows).
-- category_strings_missing: the post has no tag_string_general (a lean read must re-read).
CREATE OR REPLACE TEMP VIEW stg_tagged AS
SELECT * EXCLUDE (tag_string, tag_string_general, tag_string_artist, tag_string_copyright, tag_string_character,
                  tag_string_meta, tags),
       (CASE WHEN tags IS NULL THEN tag_string_general ELSE coalesce(tag_string_general, object_names(tags, 0)) END) AS c0,
       (CASE WHEN tags IS NULL THEN tag_string_artist ELSE coalesce(tag_string_artist, object_names(tags, 1)) END) AS c1,
       (CASE WHEN tags IS NOT NULL THEN object_names(tags, 2) END) AS c2,
       (CASE WHEN tags IS NULL THEN tag_string_copyright ELSE coalesce(tag_string_copyright, object_names(tags, 3)) END) AS c3,
       (CASE WHEN tags IS NULL THEN tag_string_character ELSE coalesce(tag_string_character, object_names(tags, 4)) END) AS c4,
       (CASE WHEN tags IS NULL THEN tag_string_meta ELSE coalesce(tag_string_meta, object_names(tags, 5)) END) AS c5,
       (CASE WHEN tags IS NOT NULL THEN object_names(tags, 6) END) AS c6,
       (CASE WHEN tags IS NOT NULL THEN object_names(tags, 7) END) AS c7,
       (CASE WHEN tags IS NOT NULL THEN object_names(tags, 8) END) AS c8,
       (CASE WHEN tags IS NOT NULL
                  THEN array_to_string(list_transform(list_filter(tags, lambda t: coalesce(
                           TRY_CAST(t.category AS INTEGER) NOT BETWEEN 0 AND 8, true)), lambda t: t.name), ' ')
                  WHEN tag_string_general IS NULL THEN tag_string END) AS bare,
       tag_string_general IS NULL AS category_strings_missing
FROM stg_posts;
