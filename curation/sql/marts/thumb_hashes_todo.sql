-- Hashed files whose thumbnail lacks a hash computed from it alone (catalogs from before the
-- column): it is computed from the stored thumbnail, no file decoded again.
SELECT md5, thumb, thumb_width
FROM image_hashes
WHERE (unpadded_phash IS NULL OR turned_phash_90 IS NULL OR turned_phash_180 IS NULL OR turned_phash_270 IS NULL)
  AND thumb IS NOT NULL AND thumb_width > 0;
