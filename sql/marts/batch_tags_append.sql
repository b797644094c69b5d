-- Append one staged file's tags to the batch, as tag ids.
INSERT INTO batch_dump_tags
SELECT s.post_id, t.tag_id, $file_order FROM stg_dump_tags s JOIN tags t USING (name);
