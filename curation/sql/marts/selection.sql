-- The selection and its label tags, counted within the final selection.
CREATE OR REPLACE TABLE selection AS SELECT post_id FROM selection_in ORDER BY post_id;
CREATE OR REPLACE TABLE selected_tags AS
SELECT l.tag_id, l.name, l.category, count(pt.post_id) AS count
FROM label_tags l LEFT JOIN post_tags pt ON pt.tag_id = l.tag_id AND pt.post_id IN (SELECT post_id FROM selection)
GROUP BY ALL
ORDER BY count DESC, name;
