-- One row per post id in the batch: the last one (latest file, latest line) wins; the others
-- are rejected as replaced, so nothing disappears without a trace. Each row gets a hash of its
-- values and tags to tell changed posts from unchanged ones.
CREATE OR REPLACE TEMP TABLE batch_ranked AS
SELECT *, row_number() OVER (PARTITION BY post_id ORDER BY file_order DESC, position DESC) AS k FROM batch_posts;
INSERT INTO ingest_rejects
SELECT dump_file, position, 'duplicate id ' || post_id || ' (a later row replaces it)',
       to_json(struct_pack(post_id, created_at, md5, rating))::VARCHAR
FROM batch_ranked WHERE k > 1;
CREATE OR REPLACE TEMP TABLE batch_final AS
WITH last AS (SELECT * EXCLUDE (k) FROM batch_ranked WHERE k = 1),
tag_hashes AS (  -- order-independent: bit_xor of per-tag hashes
    SELECT b.post_id, bit_xor(hash(b.name, b.category_id)) AS tags_hash
    FROM batch_dump_tags b JOIN last l ON l.post_id = b.post_id AND l.file_order = b.file_order
    GROUP BY b.post_id
)
SELECT l.*, hash(l.source, l.created_at, l.updated_at, l.md5, l.file_ext, l.file_size, l.image_width, l.image_height,
                 l.rating, l.parent_id, l.has_children, l.is_deleted, l.is_banned, l.is_flagged, l.is_pending,
                 l.score, l.fav_count, coalesce(t.tags_hash, 0)) AS row_hash
FROM last l LEFT JOIN tag_hashes t USING (post_id);
DROP TABLE batch_ranked;
