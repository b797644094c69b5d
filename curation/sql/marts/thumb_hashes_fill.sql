-- Hashes computed from stored thumbnails (registered as thumb_hashes_filled(md5, unpadded_phash,
-- turned_phash_90, turned_phash_180, turned_phash_270, region_phashes)): the catalog's rows with them filled in,
-- as changed rows of the images stage.
INSERT OR REPLACE INTO image_hashes BY NAME
SELECT h.* REPLACE (
    f.unpadded_phash AS unpadded_phash,
    f.turned_phash_90 AS turned_phash_90,
    f.turned_phash_180 AS turned_phash_180,
    f.turned_phash_270 AS turned_phash_270,
    f.region_phashes AS region_phashes
)
FROM catalog.image_hashes h JOIN thumb_hashes_filled f ON h.md5 = f.md5;
