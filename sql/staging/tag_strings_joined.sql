-- Each staged post's tag strings joined into one, the category columns c0 .. c8 and bare in
-- that order, separated by the byte 0x01 (never in a tag name): the form the compiled
-- splitter in curation/ingest/tag_split reads, one Arrow buffer for every column.
SELECT post_id,
       concat(coalesce(c0, ''), chr(1), coalesce(c1, ''), chr(1), coalesce(c2, ''), chr(1), coalesce(c3, ''), chr(1),
              coalesce(c4, ''), chr(1), coalesce(c5, ''), chr(1), coalesce(c6, ''), chr(1), coalesce(c7, ''), chr(1),
              coalesce(c8, ''), chr(1), coalesce(bare, '')) AS tags
FROM stg_tag_strings;
