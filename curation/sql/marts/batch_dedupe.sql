-- One row per post id in the batch: the last one (latest file, latest line) wins; the others
-- are rejected as replaced, so nothing disappears without a trace.
CREATE OR REPLACE TEMP TABLE batch_ranked AS
SELECT *, row_number() OVER (PARTITION BY post_id ORDER BY file_order DESC, position DESC) AS k FROM batch_posts;
INSERT INTO ingest_rejects
SELECT dump_file, position, 'duplicate id ' || post_id || ' (a later row replaces it)',
       to_json(struct_pack(post_id, created_at, md5, rating))::VARCHAR
FROM batch_ranked WHERE k > 1;
CREATE OR REPLACE TEMP TABLE batch_final AS SELECT * EXCLUDE (k) FROM batch_ranked WHERE k = 1;
DROP TABLE batch_ranked;
