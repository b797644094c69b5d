-- Staged e621 posts with their tags: one bare tag_string (e621's categories come
-- from tags-*.csv.gz), joined and split later (staging/stg_staged, curation/ingest/tag_split).
CREATE OR REPLACE TEMP VIEW stg_tagged AS
SELECT * EXCLUDE (tag_string), NULL::VARCHAR AS c0, NULL::VARCHAR AS c1, NULL::VARCHAR AS c2, NULL::VARCHAR AS c3,
       NULL::VARCHAR AS c4, NULL::VARCHAR AS c5, NULL::VARCHAR AS c6, NULL::VARCHAR AS c7, NULL::VARCHAR AS c8,
       tag_string AS bare
FROM stg_posts;
