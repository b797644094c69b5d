-- The elements of a JSON array file (the Danbooru API's answer), one per row as text,
-- numbered from 1, so they go through the same parsing as JSON lines.
CREATE OR REPLACE TEMP TABLE raw_lines AS
SELECT row_number() OVER () AS position, json::VARCHAR AS line
FROM read_json($path, format = 'array', records = false, columns = {'json': 'JSON'}, maximum_object_size = 64000000);
