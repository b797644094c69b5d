-- Selected posts whose file was not inspected yet, whose md5 changed since, or whose cached
-- hashes are of an older version ($hash_version): the only ones the images stage looks at again.
SELECT p.post_id, p.md5, p.file_ext
FROM selection s JOIN posts p USING (post_id)
LEFT JOIN images i ON i.post_id = p.post_id
LEFT JOIN image_hashes h ON h.md5 = i.file_md5
WHERE i.post_id IS NULL OR i.md5 IS DISTINCT FROM p.md5
   OR (h.md5 IS NOT NULL AND h.hash_version IS DISTINCT FROM $hash_version)
ORDER BY p.post_id;
