-- Selected posts with what keeps posts together in one split: the parent (families) and the
-- creation time (the time-based holdout).
SELECT s.post_id, p.parent_id, p.created_at
FROM selection s JOIN posts p USING (post_id)
ORDER BY s.post_id;
