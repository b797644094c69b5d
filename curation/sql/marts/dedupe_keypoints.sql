-- The ORB keypoints of the files dedupe asks for (registered as wanted_md5s: md5); files with
-- too few keypoints (empty columns) or inspected before keypoints were kept (NULL) are left out.
SELECT h.md5, h.keypoint_xy, h.keypoints
FROM image_hashes h
JOIN wanted_md5s w USING (md5)
WHERE octet_length(h.keypoints) > 0;
