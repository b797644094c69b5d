-- The transitive closure of active implications between canonical names (fox -> canine ->
-- canid -> mammal gives fox -> mammal). UNION (not UNION ALL) makes cycles terminate.
CREATE OR REPLACE TABLE tag_implication_closure AS
WITH RECURSIVE direct AS (
    SELECT DISTINCT coalesce(a1.consequent, i.antecedent) AS antecedent, coalesce(a2.consequent, i.consequent) AS consequent
    FROM tag_implications i
    LEFT JOIN alias_map a1 ON a1.antecedent = i.antecedent
    LEFT JOIN alias_map a2 ON a2.antecedent = i.consequent
    WHERE i.status = 'active'
), closure(antecedent, consequent) AS (
    SELECT antecedent, consequent FROM direct
    UNION
    SELECT c.antecedent, d.consequent FROM closure c JOIN direct d ON d.antecedent = c.consequent
)
SELECT antecedent, consequent FROM closure WHERE antecedent <> consequent;
