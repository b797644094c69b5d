-- Inspection results (registered as image_results) into images and image_hashes. Columns are
-- named: a catalog migrated from an earlier version has its newer columns at the end.
DELETE FROM images WHERE post_id IN (SELECT post_id FROM image_results);
INSERT INTO images (post_id, md5, path, status, width, height, has_alpha, frames, error, file_md5, format, mode)
SELECT post_id, md5, path, status, width, height, has_alpha, frames, error, file_md5, format, mode FROM image_results;
INSERT OR REPLACE INTO image_hashes (md5, width, height, has_alpha, frames, format, mode, pixel_sha256, phash, dhash,
                                     phash_mirror, dhash_mirror, information, bg_phash, bg_dhash, bg_information,
                                     bg_black_phash, bg_black_dhash, thumb, thumb_alpha, thumb_width, thumb_phash,
                                     unpadded_phash, turned_phash_90, turned_phash_180, turned_phash_270, region_phashes,
                                     keypoint_xy, keypoints, hash_version)
SELECT file_md5, any_value(width), any_value(height), any_value(has_alpha), any_value(frames), any_value(format),
       any_value(mode), any_value(pixel_sha256), any_value(phash)::UBIGINT, any_value(dhash)::UBIGINT,
       any_value(phash_mirror)::UBIGINT, any_value(dhash_mirror)::UBIGINT, any_value(information),
       any_value(bg_phash)::UBIGINT, any_value(bg_dhash)::UBIGINT, any_value(bg_information),
       any_value(bg_black_phash)::UBIGINT, any_value(bg_black_dhash)::UBIGINT,
       any_value(thumb), any_value(thumb_alpha), any_value(thumb_width), any_value(thumb_phash)::UBIGINT,
       any_value(unpadded_phash)::UBIGINT, any_value(turned_phash_90)::UBIGINT, any_value(turned_phash_180)::UBIGINT,
       any_value(turned_phash_270)::UBIGINT, any_value(region_phashes), any_value(keypoint_xy), any_value(keypoints),
       any_value(hash_version)
FROM image_results WHERE phash IS NOT NULL
GROUP BY file_md5;
