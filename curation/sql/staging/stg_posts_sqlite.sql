-- One Arrow batch of SQLite `images` rows (registered as sqlite_batch) into stg_posts, with
-- the same checks as the dump staging; position is the row's place in id order.
INSERT INTO stg_posts
WITH b AS (
    SELECT (SELECT count(*) FROM stg_posts) + row_number() OVER () AS position, * FROM sqlite_batch
)
SELECT position,
       CASE WHEN reason IS NOT NULL THEN to_json(struct_pack(post_id, created_at, rating, image_width, image_height))::VARCHAR END,
       reason, TRY_CAST(post_id AS BIGINT), source::VARCHAR,
       utc_time(TRY_CAST(created_at::VARCHAR AS TIMESTAMPTZ)), utc_time(TRY_CAST(updated_at::VARCHAR AS TIMESTAMPTZ)),
       lower(md5::VARCHAR), lower(file_ext::VARCHAR), TRY_CAST(file_size AS BIGINT), TRY_CAST(image_width AS INTEGER),
       TRY_CAST(image_height AS INTEGER), lower(rating::VARCHAR), nullif(TRY_CAST(parent_id AS BIGINT), 0),
       coalesce(TRY_CAST(has_children AS BOOLEAN), false), coalesce(TRY_CAST(is_deleted AS BOOLEAN), false),
       coalesce(TRY_CAST(is_banned AS BOOLEAN), false), coalesce(TRY_CAST(is_flagged AS BOOLEAN), false),
       coalesce(TRY_CAST(is_pending AS BOOLEAN), false), TRY_CAST(score AS INTEGER), TRY_CAST(fav_count AS INTEGER),
       NULL::UBIGINT  -- set once the tags are staged (stg_posts_sqlite_hash)
FROM (
    SELECT *, CASE
        WHEN post_id IS NULL THEN 'row without id'
        WHEN created_at IS NOT NULL AND TRY_CAST(created_at::VARCHAR AS TIMESTAMPTZ) IS NULL
            THEN 'created_at ''' || created_at::VARCHAR || ''' is not a timestamp'
        WHEN rating IS NULL OR lower(rating::VARCHAR) NOT IN ('g', 's', 'q', 'e')
            THEN 'unknown rating ' || coalesce('''' || rating::VARCHAR || '''', 'NULL')
        WHEN TRY_CAST(image_width AS INTEGER) < 0 OR TRY_CAST(image_height AS INTEGER) < 0
            THEN 'impossible size ' || image_width::VARCHAR || 'x' || image_height::VARCHAR
    END AS reason FROM b
);
