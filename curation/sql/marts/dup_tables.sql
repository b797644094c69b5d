-- The dedupe results (registered as new_dup_edges and new_dup_groups) replace the old ones.
-- Hash edges carry a Hamming distance, embedding edges a cosine similarity, aligned edges the
-- pixel correlation (and the Hamming distance when the hashes proposed them); each edge its
-- precision_estimate.
CREATE OR REPLACE TABLE dup_edges AS
SELECT post_a, post_b, kind, distance, similarity, precision_estimate FROM new_dup_edges ORDER BY post_a, post_b, kind;
CREATE OR REPLACE TABLE dup_groups AS SELECT post_id, group_id, is_representative FROM new_dup_groups ORDER BY group_id, post_id;
