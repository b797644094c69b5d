-- Keep posts whose post_id % 1000 falls in one of the inclusive ranges $ranges ([[lo, hi], ...]),
-- the scheme the WD taggers use to hold out posts.
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s
WHERE len(list_filter($ranges, lambda r: s.post_id % 1000 BETWEEN r[1] AND r[2])) > 0;
