-- The new assignment (registered as new_splits) replaces the old; split_meta records how it
-- was made, so that a rebuild with the same settings keeps every post where it was.
CREATE OR REPLACE TABLE splits AS SELECT post_id, split, unit_key FROM new_splits ORDER BY post_id;
CREATE OR REPLACE TABLE split_meta AS SELECT $fingerprint AS fingerprint, $scheme AS scheme, now() AS made_at;
