-- Files of selected posts that decoded in `curate images` and that $embedder has neither
-- embedded nor failed on: one row a file md5 (posts sharing a file are embedded once).
SELECT i.file_md5 AS md5, min(i.path) AS path
FROM selection s
JOIN images i USING (post_id)
WHERE i.status IN ('ok', 'animated', 'transparent')
  AND i.file_md5 IS NOT NULL
  AND i.file_md5 NOT IN (SELECT md5 FROM embeddings WHERE embedder = $embedder)
  AND i.file_md5 NOT IN (SELECT md5 FROM embed_rejects WHERE embedder = $embedder)
GROUP BY i.file_md5
ORDER BY i.file_md5;
