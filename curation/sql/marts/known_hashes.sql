-- Files decoded and hashed by earlier runs, with hashes of the current version: a repost of
-- one of them is only checked (same bytes), not decoded again.
-- Columns are named as the fields of curation.images.inspect.Inspection.
SELECT md5 AS file_md5, width, height, has_alpha, frames, format, mode, pixel_sha256, phash, dhash, phash_mirror,
       dhash_mirror, information, bg_phash, bg_dhash, bg_information, bg_black_phash, bg_black_dhash,
       thumb, thumb_alpha, thumb_width, thumb_phash, unpadded_phash, turned_phash_90, turned_phash_180, turned_phash_270,
       region_phashes, keypoint_xy, keypoints
FROM image_hashes
WHERE hash_version = $hash_version;
