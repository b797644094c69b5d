-- Alias or implication rows from JSON lines (Danbooru's BigQuery-era exports).
CREATE OR REPLACE TEMP TABLE stg_relations AS
SELECT lower(trim(antecedent_name)) AS antecedent, lower(trim(consequent_name)) AS consequent,
       lower(trim(coalesce(status, 'active'))) AS status
FROM read_json($path, format = 'newline_delimited', columns = {
    'antecedent_name': 'VARCHAR', 'consequent_name': 'VARCHAR', 'status': 'VARCHAR'})
WHERE antecedent_name IS NOT NULL AND consequent_name IS NOT NULL;
