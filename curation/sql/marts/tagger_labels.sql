-- Each selected post's label tags (post_labels: moderators' accepted decisions applied) as
-- column indices into selected_tags (most frequent first, then by name: the order of
-- selected_tags.csv and of every prediction store).
WITH tag_index AS (
    SELECT tag_id, row_number() OVER (ORDER BY count DESC, name) - 1 AS idx FROM selected_tags
)
SELECT pl.post_id, ti.idx
FROM post_labels pl JOIN tag_index ti USING (tag_id)
ORDER BY pl.post_id, ti.idx;
