-- A staged file read once into one table: each row's post columns, position, reject reason,
-- row hash and (accepted rows only) its tag columns c0 .. c8 and bare joined into one string,
-- separated by the byte 0x01 (never in a tag name): the form the compiled splitter in
-- curation/ingest/tag_split reads, one Arrow buffer (names as written: it matches them
-- case-blind and lower-cases new ones). Reading the dump, typing, checking and
-- joining happen in this one pass; nothing later re-reads the file or copies its raw columns.
CREATE OR REPLACE TEMP TABLE stg_staged AS
SELECT * EXCLUDE (c0, c1, c2, c3, c4, c5, c6, c7, c8, bare),
       CASE WHEN reject_reason IS NULL THEN joined_tags(c0, c1, c2, c3, c4, c5, c6, c7, c8, bare) END AS tags
FROM stg_tagged;
