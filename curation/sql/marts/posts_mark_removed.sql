-- A full dump lists every live post of its board: posts it no longer lists are marked removed
-- (kept, not deleted, so that splits and decisions that mention them stay explainable). Only
-- posts that came from dumps of the same format count: a workspace may hold, say, a 2017-2020
-- archive beside a 2021+ dump, and neither lists the other's posts.
UPDATE posts SET is_removed = true
WHERE NOT is_removed AND post_id NOT IN (SELECT post_id FROM batch_final)
  AND dump_file IN (SELECT dump_file FROM dumps WHERE format = $format);
