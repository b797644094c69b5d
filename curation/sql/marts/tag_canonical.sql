-- tag_canonical: every active alias's antecedent -> its final name, chains followed (a -> b -> c
-- gives a -> c and b -> c). A chain that comes back to a name it passed is a cycle: its names
-- keep their own (cycle = true; ingest reports them). Every consumer canonicalises through this
-- table: SQL with the macro canonical_tag(name), Python with curation.tags.canonicaliser.
DELETE FROM tag_canonical;
INSERT INTO tag_canonical
WITH RECURSIVE chain(antecedent, consequent, hops, path) AS (
    SELECT antecedent, consequent, 1, [antecedent]
    FROM tag_aliases WHERE status = 'active' AND antecedent <> consequent
    UNION ALL
    SELECT c.antecedent, a.consequent, c.hops + 1, list_append(c.path, c.consequent)
    FROM chain c JOIN tag_aliases a ON a.antecedent = c.consequent AND a.status = 'active'
    WHERE NOT list_contains(c.path, c.consequent)
), final AS (
    SELECT antecedent, arg_max(consequent, hops) AS consequent, max(hops) AS hops,
           bool_or(list_contains(path, consequent)) AS cycle
    FROM chain GROUP BY antecedent
)
SELECT antecedent, CASE WHEN cycle THEN antecedent ELSE consequent END, hops, cycle FROM final;
