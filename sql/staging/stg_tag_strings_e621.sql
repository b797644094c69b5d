-- The tags of accepted e621 posts: one bare tag_string, lower-cased (e621's categories come
-- from tags-*.csv.gz), split later by curation/ingest/tag_split.
CREATE OR REPLACE TEMP VIEW stg_tag_strings AS
SELECT post_id, NULL::VARCHAR AS c0, NULL::VARCHAR AS c1, NULL::VARCHAR AS c2, NULL::VARCHAR AS c3,
       NULL::VARCHAR AS c4, NULL::VARCHAR AS c5, NULL::VARCHAR AS c6, NULL::VARCHAR AS c7, NULL::VARCHAR AS c8,
       lower(tag_string) AS bare
FROM stg_posts WHERE reject_reason IS NULL;
