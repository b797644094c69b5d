-- Append one staged file's tags to the batch, as tag ids (the names that were unknown have
-- ids now).
INSERT INTO batch_dump_tags
SELECT s.post_id, coalesce(s.tag_id, t.tag_id), $file_order
FROM stg_tag_ids s LEFT JOIN tags t ON s.tag_id IS NULL AND t.name = s.name;
