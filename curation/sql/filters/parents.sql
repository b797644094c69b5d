-- Parent/child policy: 'drop_children' drops posts that have a parent; 'only_parentless'
-- also drops parents (posts with children), keeping posts outside any family.
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s JOIN posts p USING (post_id)
WHERE p.parent_id IS NULL
  AND ($policy = 'drop_children'
       OR NOT (p.has_children OR EXISTS (SELECT 1 FROM posts c WHERE c.parent_id = p.post_id AND NOT c.is_removed)));
