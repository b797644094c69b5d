-- Where the files dedupe asks for are (registered as wanted_md5s: md5): one path per file, for
-- the keypoint checks that compare two files' pixels at more than thumbnail size. Every status
-- dedupe compares (marts/dedupe_inputs) is read again too: an animated repost is a repost.
SELECT i.file_md5 AS md5, min(i.path) AS path
FROM images i
JOIN wanted_md5s w ON w.md5 = i.file_md5
WHERE i.status IN ('ok', 'animated', 'transparent') AND i.path IS NOT NULL
GROUP BY i.file_md5;
