-- Each aliased tag -> its final canonical tag (tag_canonical, chains followed, cycles left out),
-- by name and by id, for canonicalising the dump tags during an ingest.
CREATE OR REPLACE TEMP TABLE alias_map AS
SELECT c.name AS antecedent, c.canonical AS consequent, ta.tag_id AS antecedent_id, tc.tag_id AS consequent_id
FROM tag_canonical c JOIN tags tc ON tc.name = c.canonical LEFT JOIN tags ta ON ta.name = c.name
WHERE NOT c.cycle;
