-- Posts created in [created_after, created_before) (UTC); either bound may be NULL.
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s JOIN posts p USING (post_id)
WHERE ($created_after IS NULL OR p.created_at >= $created_after)
  AND ($created_before IS NULL OR p.created_at < $created_before);
