-- Each aliased tag -> its final canonical tag through active aliases (chains followed up to 10
-- hops; a cycle stops there), by name and by id.
CREATE OR REPLACE TEMP TABLE alias_map AS
WITH RECURSIVE chain(antecedent, consequent, hops) AS (
    SELECT antecedent, consequent, 1 FROM tag_aliases WHERE status = 'active'
    UNION ALL
    SELECT c.antecedent, a.consequent, c.hops + 1
    FROM chain c JOIN tag_aliases a ON a.antecedent = c.consequent AND a.status = 'active'
    WHERE c.hops < 10
), final AS (
    SELECT antecedent, arg_max(consequent, hops) AS consequent FROM chain GROUP BY antecedent
)
SELECT f.antecedent, f.consequent, ta.tag_id AS antecedent_id, tc.tag_id AS consequent_id
FROM final f JOIN tags tc ON tc.name = f.consequent LEFT JOIN tags ta ON ta.name = f.antecedent;
