-- The tags of the accepted JSON posts, as written: per-category tag strings (2021+ exports
-- and the API; categories 0 general, 1 artist, 3 copyright, 4 character, 5 meta), tag objects
-- (2017-2020), or a bare tag_string whose categories come from the tags table later.
CREATE OR REPLACE TEMP TABLE stg_dump_tags AS
SELECT DISTINCT post_id, lower(trim(t.name)) AS name, t.category_id
FROM (
    SELECT post_id, unnest(list_concat(
        list_transform(string_split(coalesce(j.tag_string_general, ''), ' '), lambda x: {'name': x, 'category_id': 0}),
        list_transform(string_split(coalesce(j.tag_string_artist, ''), ' '), lambda x: {'name': x, 'category_id': 1}),
        list_transform(string_split(coalesce(j.tag_string_copyright, ''), ' '), lambda x: {'name': x, 'category_id': 3}),
        list_transform(string_split(coalesce(j.tag_string_character, ''), ' '), lambda x: {'name': x, 'category_id': 4}),
        list_transform(string_split(coalesce(j.tag_string_meta, ''), ' '), lambda x: {'name': x, 'category_id': 5}),
        list_transform(coalesce(j.tags, []), lambda x: {'name': x.name, 'category_id': TRY_CAST(x.category AS INTEGER)}),
        CASE WHEN j.tag_string_general IS NULL AND j.tags IS NULL
             THEN list_transform(string_split(coalesce(j.tag_string, ''), ' '), lambda x: {'name': x, 'category_id': NULL::INTEGER})
             ELSE [] END
    )) AS t
    FROM stg_posts
    WHERE reject_reason IS NULL
)
WHERE trim(t.name) <> '';
