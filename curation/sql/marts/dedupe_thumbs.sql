-- The alignment thumbnails of the files dedupe asks for (registered as wanted_md5s: md5), with
-- the files' native sizes.
SELECT h.md5, h.thumb, h.thumb_alpha, h.thumb_width, h.width, h.height
FROM image_hashes h
JOIN wanted_md5s w USING (md5)
WHERE h.thumb IS NOT NULL;
