-- Posts a tagger learns from and predicts: selected, with a usable file (status ok), in post order.
SELECT s.post_id, i.file_md5, p.rating
FROM selection s JOIN posts p USING (post_id) JOIN images i USING (post_id)
WHERE i.status = 'ok' AND i.file_md5 IS NOT NULL
ORDER BY s.post_id;
