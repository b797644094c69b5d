-- Before the new suggestions (registered as new_suggestions) replace the old: how many are new,
-- how many old ones moderators decided since (resolved), and how many old ones are no longer
-- suggested without a decision (withdrawn: the evidence changed).
SELECT
    (SELECT count(*) FROM new_suggestions ANTI JOIN suggestions USING (post_id, tag, action)) AS added,
    (SELECT count(*) FROM suggestions SEMI JOIN decisions USING (post_id, tag, action)) AS resolved,
    (SELECT count(*) FROM (SELECT post_id, tag, action FROM suggestions
                           ANTI JOIN new_suggestions USING (post_id, tag, action))
                          ANTI JOIN decisions USING (post_id, tag, action)) AS withdrawn;
