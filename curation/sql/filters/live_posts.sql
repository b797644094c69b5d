-- Where every selection starts: the posts the newest dumps still list.
CREATE OR REPLACE TEMP TABLE selection_out AS SELECT post_id FROM posts WHERE NOT is_removed;
