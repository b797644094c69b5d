-- unpadded_phash computed from stored thumbnails (registered as unpadded_filled(md5, unpadded_phash)).
UPDATE image_hashes h
SET unpadded_phash = f.unpadded_phash
FROM unpadded_filled f
WHERE h.md5 = f.md5;
