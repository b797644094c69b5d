-- The posts whose images rows go: no longer selected (deleted, or filtered out by a changed
-- setting). Their files' hashes stay in image_hashes, by md5: a post selected again is not decoded.
CREATE OR REPLACE TABLE images__removed AS
SELECT post_id FROM catalog.images WHERE post_id NOT IN (SELECT post_id FROM selection);
