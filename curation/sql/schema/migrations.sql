-- Columns added after a table first shipped, so that catalogs made by earlier versions keep
-- working (CREATE TABLE IF NOT EXISTS leaves an existing table as it is).
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS width INTEGER;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS height INTEGER;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS has_alpha BOOLEAN;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS frames INTEGER;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS format VARCHAR;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS mode VARCHAR;
ALTER TABLE image_hashes DROP COLUMN IF EXISTS mask_phash;  -- silhouettes gave way to bg_phash (hash version 2)
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS bg_phash UBIGINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS bg_dhash UBIGINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS bg_information REAL;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS hash_version INTEGER;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS bg_black_phash UBIGINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS bg_black_dhash UBIGINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS thumb BLOB;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS thumb_alpha BLOB;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS thumb_width SMALLINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS thumb_phash UBIGINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS unpadded_phash UBIGINT;  -- filled from the stored thumbnails (marts/thumb_hashes_todo)
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS turned_phash_90 UBIGINT;  -- the same
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS turned_phash_180 UBIGINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS turned_phash_270 UBIGINT;
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS region_phashes BLOB;  -- filled from the stored thumbnails
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS keypoint_xy BLOB;  -- filled when files of an older hash version are inspected again
ALTER TABLE image_hashes ADD COLUMN IF NOT EXISTS keypoints BLOB;
ALTER TABLE dumps ADD COLUMN IF NOT EXISTS file_size BIGINT;
