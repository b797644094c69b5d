-- Rows staging refused, with the reason, into ingest_rejects.
INSERT INTO ingest_rejects
SELECT $dump_file, position, reject_reason, left(line, 10000) FROM stg_rows WHERE reject_reason IS NOT NULL;
