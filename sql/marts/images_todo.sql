-- Selected posts whose file was not inspected yet, or whose md5 changed since: the only ones
-- the images stage looks at again.
SELECT p.post_id, p.md5, p.file_ext
FROM selection s JOIN posts p USING (post_id)
LEFT JOIN images i ON i.post_id = p.post_id
WHERE i.post_id IS NULL OR i.md5 IS DISTINCT FROM p.md5
ORDER BY p.post_id;
