-- Each aliased name -> its final canonical name through active aliases (chains followed up
-- to 10 hops; a cycle stops there).
CREATE OR REPLACE TEMP TABLE alias_map AS
WITH RECURSIVE chain(antecedent, consequent, hops) AS (
    SELECT antecedent, consequent, 1 FROM tag_aliases WHERE status = 'active'
    UNION ALL
    SELECT c.antecedent, a.consequent, c.hops + 1
    FROM chain c JOIN tag_aliases a ON a.antecedent = c.consequent AND a.status = 'active'
    WHERE c.hops < 10
)
SELECT antecedent, arg_max(consequent, hops) AS consequent FROM chain GROUP BY antecedent;
