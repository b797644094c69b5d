-- The tags of the accepted JSON posts, as written: per-category tag strings (2021+ exports
-- and the API; categories 0 general, 1 artist, 3 copyright, 4 character, 5 meta), tag objects
-- (2017-2020), or a bare tag_string whose categories come from the tags table later.
-- A view: the split runs once, inside staging/stg_tag_ids. Each string is lower-cased whole
-- (one call per post, not per tag) and split on spaces (tag names hold no whitespace). One
-- list of names per post, with a parallel list of categories, unnested together, so that a
-- post's tags mostly sit together (canonicalisation regroups the few that do not). A name
-- repeated in one post collapses when tags are canonicalised.
CREATE OR REPLACE TEMP VIEW stg_dump_tags AS
WITH split AS (
    SELECT post_id, tags,
           string_split(lower(tag_string_general), ' ') AS g, string_split(lower(tag_string_artist), ' ') AS a,
           string_split(lower(tag_string_copyright), ' ') AS c, string_split(lower(tag_string_character), ' ') AS ch,
           string_split(lower(tag_string_meta), ' ') AS m,
           CASE WHEN tag_string_general IS NULL AND tags IS NULL THEN string_split(lower(tag_string), ' ') END AS bare
    FROM stg_posts WHERE reject_reason IS NULL
), listed AS (
    SELECT post_id,
           flatten([coalesce(g, []), coalesce(a, []), coalesce(c, []), coalesce(ch, []), coalesce(m, []),
                    coalesce(list_transform(tags, lambda t: lower(t.name)), []), coalesce(bare, [])]) AS names,
           flatten([list_resize([]::INTEGER[], len(g), 0), list_resize([]::INTEGER[], len(a), 1),
                    list_resize([]::INTEGER[], len(c), 3), list_resize([]::INTEGER[], len(ch), 4),
                    list_resize([]::INTEGER[], len(m), 5),
                    coalesce(list_transform(tags, lambda t: TRY_CAST(t.category AS INTEGER)), []),
                    list_resize([]::INTEGER[], len(bare))]) AS categories
    FROM split
), rows AS (
    SELECT post_id, unnest(names) AS name, unnest(categories) AS category_id FROM listed
)
SELECT post_id, name, category_id FROM rows WHERE name <> '';
