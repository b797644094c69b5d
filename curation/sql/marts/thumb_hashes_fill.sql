-- Hashes computed from stored thumbnails (registered as thumb_hashes_filled(md5, unpadded_phash,
-- turned_phash_90, turned_phash_180, turned_phash_270)).
UPDATE image_hashes h
SET unpadded_phash = f.unpadded_phash,
    turned_phash_90 = f.turned_phash_90,
    turned_phash_180 = f.turned_phash_180,
    turned_phash_270 = f.turned_phash_270
FROM thumb_hashes_filled f
WHERE h.md5 = f.md5;
