-- Lines or records the CSV reader could not read (not UTF-8, wrong column count, bad quotes).
INSERT INTO ingest_rejects
SELECT $dump_file, e.line, lower(e.error_type) || ': ' || e.error_message, left(e.csv_line, 10000)
FROM csv_reject_errors e;
