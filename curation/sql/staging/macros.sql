-- Table macros the staging steps read dumps through.
-- json_lines: every line of a JSON-lines file as text, numbered from 1. We read lines ourselves
-- rather than with read_json(ignore_errors) so that a malformed line reaches ingest_rejects with
-- its position instead of vanishing; lines that are not UTF-8 land in the CSV reader's rejects
-- table, from which the ingest copies them. Streamed: the text is never held whole.
CREATE OR REPLACE TEMP MACRO json_lines(path, sep) AS TABLE
    SELECT position, line FROM (
        SELECT row_number() OVER () AS position, line
        FROM read_csv(path, columns = {'line': 'VARCHAR'}, header = false, delim = sep, quote = '', escape = '',
                      auto_detect = false, store_rejects = true, rejects_table = 'csv_reject_errors',
                      rejects_scan = 'csv_reject_scans', max_line_size = 4000000)
    )
    WHERE line IS NOT NULL AND trim(line) <> '';
-- json_array_lines: the elements of a JSON array file (the Danbooru API's answer) as text.
CREATE OR REPLACE TEMP MACRO json_array_lines(path) AS TABLE
    SELECT row_number() OVER () AS position, json::VARCHAR AS line
    FROM read_json(path, format = 'array', records = false, columns = {'json': 'JSON'}, maximum_object_size = 4000000);
-- post_lines: one of the two (the optimiser drops the branch that is not taken).
CREATE OR REPLACE TEMP MACRO post_lines(path, sep, is_array) AS TABLE
    SELECT * FROM json_lines(path, sep) WHERE NOT is_array
    UNION ALL
    SELECT * FROM json_array_lines(path) WHERE is_array;
-- object_names: the names of a post's tag objects (2017-2020 exports: [{name, category}],
-- the category id as text) in one category, space-separated; NULL when the post has none.
CREATE OR REPLACE TEMP MACRO object_names(tags, category) AS
    array_to_string(list_transform(list_filter(tags, lambda t: TRY_CAST(t.category AS INTEGER) = category),
                                   lambda t: t.name), ' ');
-- joined_tags: a post's tag columns (c0 .. c8 and bare) as one string, the byte 0x01 between
-- them (never in a tag name), for the compiled splitter in curation/ingest/tag_split.
CREATE OR REPLACE TEMP MACRO joined_tags(c0, c1, c2, c3, c4, c5, c6, c7, c8, bare) AS
    concat(coalesce(c0, ''), chr(1), coalesce(c1, ''), chr(1), coalesce(c2, ''), chr(1), coalesce(c3, ''), chr(1),
           coalesce(c4, ''), chr(1), coalesce(c5, ''), chr(1), coalesce(c6, ''), chr(1), coalesce(c7, ''), chr(1),
           coalesce(c8, ''), chr(1), coalesce(bare, ''));
-- utc_time: a TIMESTAMPTZ as the TIMESTAMP of its UTC wall time, by its microseconds since the
-- epoch: timezone('UTC', ts) gives the same but asks ICU's calendar per value (10x the time
-- at a million posts). An infinite time becomes NULL.
CREATE OR REPLACE TEMP MACRO utc_time(ts) AS make_timestamp(epoch_us(ts));
-- is_json_container: a string value that is a JSON list or object (a dump that put a list where
-- a tag string belongs); parsed only when it starts like one, so plain tag strings cost a compare.
CREATE OR REPLACE TEMP MACRO is_json_container(x) AS
    CASE WHEN starts_with(x, '[') OR starts_with(x, '{') THEN json_type(TRY_CAST(x AS JSON)) IN ('ARRAY', 'OBJECT')
         ELSE false END;
