-- Before the dedupe results (registered as new_dup_groups) replace dup_groups: how many groups
-- are new (no old group has exactly their members) and how many old ones are gone.
WITH old AS (SELECT list(post_id ORDER BY post_id) AS members FROM dup_groups GROUP BY group_id),
new AS (SELECT list(post_id ORDER BY post_id) AS members FROM new_dup_groups GROUP BY group_id)
SELECT
    (SELECT count(*) FROM new ANTI JOIN old USING (members)) AS new_groups,
    (SELECT count(*) FROM old ANTI JOIN new USING (members)) AS gone_groups;
