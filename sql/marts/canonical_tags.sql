-- Every post's canonical tags, as integer ids: dump tags through aliases ('dump'), plus what
-- they imply through the implication closure ('implied'). One aggregation settles both
-- duplicates (an old and a new name on one post) and tags that are both written and implied.
CREATE OR REPLACE TEMP TABLE closure_ids AS
SELECT a.tag_id AS antecedent_id, c.tag_id AS consequent_id
FROM tag_implication_closure k JOIN tags a ON a.name = k.antecedent JOIN tags c ON c.name = k.consequent;
CREATE OR REPLACE TABLE post_tags AS
WITH canon AS (
    SELECT d.post_id, coalesce(a.consequent_id, d.tag_id) AS tag_id
    FROM dump_tags d LEFT JOIN alias_map a ON a.antecedent_id = d.tag_id
), tagged AS (
    SELECT post_id, tag_id, false AS implied FROM canon
    UNION ALL
    SELECT c.post_id, k.consequent_id, true FROM canon c JOIN closure_ids k ON k.antecedent_id = c.tag_id
)
SELECT post_id, tag_id, (CASE WHEN bool_and(implied) THEN 'implied' ELSE 'dump' END)::tag_origin AS origin
FROM tagged GROUP BY post_id, tag_id;
