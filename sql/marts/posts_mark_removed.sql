-- A full dump lists every live post: posts it no longer lists are marked removed (kept, not
-- deleted, so that splits and decisions that mention them stay explainable).
UPDATE posts SET is_removed = true
WHERE NOT is_removed AND post_id NOT IN (SELECT post_id FROM batch_final);
