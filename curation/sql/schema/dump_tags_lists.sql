-- Catalogs made before dump tags were stored as one list per post (post_id, tag_id rows):
-- the rows become lists, in their stored order. Run only when dump_tags still has tag_id.
CREATE TABLE dump_tags_lists AS SELECT post_id, list(tag_id ORDER BY rowid) AS tag_ids FROM dump_tags GROUP BY post_id;
DROP TABLE dump_tags;
ALTER TABLE dump_tags_lists RENAME TO dump_tags;
