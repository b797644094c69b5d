-- Every post's canonical tags: dump names through aliases ('dump'), plus what they imply
-- through the implication closure ('implied').
CREATE OR REPLACE TEMP TABLE canonical_tags AS
WITH canon AS (
    SELECT d.post_id, coalesce(a.consequent, d.name) AS name, max(d.category_id) AS category_id
    FROM dump_tags d LEFT JOIN alias_map a ON a.antecedent = d.name
    GROUP BY ALL
), implied AS (  -- an implied tag takes its implier's category when no list says otherwise
    SELECT c.post_id, k.consequent AS name, max(c.category_id) AS category_id
    FROM canon c JOIN tag_implication_closure k ON k.antecedent = c.name
    GROUP BY ALL
)
SELECT post_id, name, category_id, 'dump' AS origin FROM canon
UNION ALL
SELECT i.post_id, i.name, i.category_id, 'implied' FROM implied i ANTI JOIN canon c ON c.post_id = i.post_id AND c.name = i.name;
