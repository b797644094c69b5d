-- post_tags replaced by the canonical rows the ingest computed (registered as canonical_rows:
-- post_id, tag_id, implied).
DELETE FROM post_tags;
INSERT INTO post_tags
SELECT post_id, tag_id, CASE WHEN implied THEN 'implied'::tag_origin ELSE 'dump'::tag_origin END
FROM canonical_rows;
