-- Every post's canonical tags, as integer ids: dump tags through aliases ('dump'), plus what
-- they imply through the implication closure ('implied').
CREATE OR REPLACE TEMP TABLE closure_ids AS
SELECT a.tag_id AS antecedent_id, c.tag_id AS consequent_id
FROM tag_implication_closure k JOIN tags a ON a.name = k.antecedent JOIN tags c ON c.name = k.consequent;
CREATE OR REPLACE TABLE post_tags AS
WITH canon AS (
    SELECT DISTINCT d.post_id, coalesce(a.consequent_id, d.tag_id) AS tag_id
    FROM dump_tags d LEFT JOIN alias_map a ON a.antecedent_id = d.tag_id
), implied AS (
    SELECT DISTINCT c.post_id, k.consequent_id AS tag_id FROM canon c JOIN closure_ids k ON k.antecedent_id = c.tag_id
)
SELECT post_id, tag_id, 'dump' AS origin FROM canon
UNION ALL
SELECT i.post_id, i.tag_id, 'implied' FROM implied i ANTI JOIN canon c ON c.post_id = i.post_id AND c.tag_id = i.tag_id;
