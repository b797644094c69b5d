-- Rows of a staged tag list that are not tags, with the reason, into ingest_rejects.
INSERT INTO ingest_rejects
SELECT $dump_file, position, reject_reason, left(raw, 10000) FROM stg_tags WHERE reject_reason IS NOT NULL;
