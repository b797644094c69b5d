-- The fast reader's rows in file order; their positions are set once staged (staging/stg_rows:
-- the staged table's rowid + 1 is the line, valid when the file has no blank lines, which the
-- ingest checks against the line count).
CREATE OR REPLACE TEMP VIEW stg_json_rows AS
SELECT NULL::BIGINT AS position, NULL::VARCHAR AS line, false AS malformed, * FROM stg_json;
