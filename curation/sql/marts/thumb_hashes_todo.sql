-- Hashed files whose thumbnail lacks a hash computed from it alone (catalogs from before the
-- column, or region pHashes of an older layout: not $region_bytes long): it is computed from the
-- stored thumbnail, no file decoded again. Read from the
-- catalog itself (the images stage writes only the rows it changes: those have every hash).
SELECT md5, thumb, thumb_width
FROM catalog.image_hashes
WHERE (unpadded_phash IS NULL OR turned_phash_90 IS NULL OR turned_phash_180 IS NULL OR turned_phash_270 IS NULL
       OR region_phashes IS NULL OR octet_length(region_phashes) <> $region_bytes)
  AND thumb IS NOT NULL AND thumb_width > 0
  AND md5 NOT IN (SELECT md5 FROM image_hashes);
