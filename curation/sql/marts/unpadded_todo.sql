-- Hashed files whose thumbnail has no unpadded_phash yet (catalogs from before the column):
-- it is computed from the stored thumbnail, no file decoded again.
SELECT md5, thumb, thumb_width
FROM image_hashes
WHERE unpadded_phash IS NULL AND thumb IS NOT NULL AND thumb_width > 0;
