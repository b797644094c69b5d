-- Alias or implication rows from a Danbooru or e621 export (CSV, gzipped or not). Both
-- layouts carry antecedent_name, consequent_name and status; other columns are ignored.
CREATE OR REPLACE TEMP TABLE stg_relations AS
SELECT lower(trim(antecedent_name)) AS antecedent, lower(trim(consequent_name)) AS consequent,
       lower(trim(coalesce(status, 'active'))) AS status
FROM read_csv($path, header = true, all_varchar = true, quote = '"', escape = '"', store_rejects = true,
              rejects_table = 'csv_reject_errors', rejects_scan = 'csv_reject_scans')
WHERE antecedent_name IS NOT NULL AND consequent_name IS NOT NULL;
