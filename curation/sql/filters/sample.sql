-- A deterministic random sample: a post is kept when a hash of its id and $seed falls under
-- $fraction, so the same seed keeps the same posts and a grown dump keeps the old choices.
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s
WHERE hash(s.post_id::VARCHAR || ':' || $seed::VARCHAR) % 1000000 < $fraction * 1000000;
