-- The fast reader's rows in file order, numbered (rowid + 1 is the line: no blank lines).
CREATE TEMP VIEW stg_json_rows AS
SELECT rowid + 1 AS position, NULL::VARCHAR AS line, false AS malformed, * FROM stg_json;
