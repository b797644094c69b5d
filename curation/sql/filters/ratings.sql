-- Keep posts whose rating is one of $ratings (g s q e).
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s JOIN posts p USING (post_id)
WHERE list_contains($ratings, p.rating);
