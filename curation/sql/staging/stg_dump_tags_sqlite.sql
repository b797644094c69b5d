-- One Arrow batch of SQLite imageTags joined to tags (registered as sqlite_batch).
INSERT INTO stg_dump_tags
SELECT DISTINCT post_id::BIGINT, lower(trim(name::VARCHAR)), TRY_CAST(category_id AS INTEGER)
FROM sqlite_batch WHERE name IS NOT NULL AND trim(name::VARCHAR) <> '';
