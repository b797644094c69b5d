-- Exports without has_children (e621) learn it from parent links; a true value is never undone.
UPDATE posts SET has_children = true
WHERE NOT has_children AND post_id IN (SELECT parent_id FROM posts WHERE parent_id IS NOT NULL AND NOT is_removed);
