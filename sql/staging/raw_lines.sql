-- Every line of one JSON-lines dump file as text, numbered from 1. We read lines ourselves
-- rather than with read_json(ignore_errors) so that a malformed line reaches ingest_rejects
-- with its position instead of vanishing; lines that are not UTF-8 land in the CSV reader's
-- rejects table, from which the ingest copies them.
CREATE OR REPLACE TEMP TABLE raw_lines AS
SELECT position, line
FROM (
    SELECT row_number() OVER () AS position, line
    FROM read_csv($path, columns = {'line': 'VARCHAR'}, header = false, delim = $delim, quote = '', escape = '',
                  auto_detect = false, store_rejects = true, rejects_table = 'csv_reject_errors',
                  rejects_scan = 'csv_reject_scans', max_line_size = 64000000)
)
WHERE line IS NOT NULL AND trim(line) <> '';
