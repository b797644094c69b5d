-- The implication closure between tag ids: (antecedent_id, consequent_id).
SELECT a.tag_id AS antecedent_id, c.tag_id AS consequent_id
FROM tag_implication_closure k JOIN tags a ON a.name = k.antecedent JOIN tags c ON c.name = k.consequent;
