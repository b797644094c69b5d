-- Append one staged file's tags to the batch.
INSERT INTO batch_dump_tags SELECT post_id, name, category_id, $file_order FROM stg_dump_tags;
