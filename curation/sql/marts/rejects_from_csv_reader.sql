-- Lines or records the CSV reader could not read (not UTF-8, wrong column count, bad quotes):
-- one reject per record (the reader reports a short record once per missing column).
INSERT INTO ingest_rejects
SELECT $dump_file, e.line, string_agg(DISTINCT lower(e.error_type), ', ') || ': ' || any_value(e.error_message),
       left(any_value(e.csv_line), 10000)
FROM csv_reject_errors e
GROUP BY e.line;
