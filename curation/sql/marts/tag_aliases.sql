-- Upsert staged alias rows; a later file's status for the same pair wins.
INSERT OR REPLACE INTO tag_aliases
SELECT antecedent, consequent, any_value(status) FROM stg_relations GROUP BY antecedent, consequent;
