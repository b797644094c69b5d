-- The suggestions of the last `curate suggest`, without those decided since.
SELECT s.* FROM suggestions s
WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.post_id = s.post_id AND d.tag = s.tag AND d.action = s.action)
ORDER BY s.rank;
