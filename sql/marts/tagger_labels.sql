-- Each selected post's label tags as column indices into selected_tags (most frequent first,
-- then by name: the order of selected_tags.csv and of every prediction store).
WITH tag_index AS (
    SELECT tag_id, row_number() OVER (ORDER BY count DESC, name) - 1 AS idx FROM selected_tags
)
SELECT pt.post_id, ti.idx
FROM selection s JOIN post_tags pt USING (post_id) JOIN tag_index ti USING (tag_id)
ORDER BY pt.post_id, ti.idx;
