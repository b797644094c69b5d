-- Keep posts at least $min_width wide and $min_height high (as the dump records them).
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s JOIN posts p USING (post_id)
WHERE coalesce(p.image_width, 0) >= $min_width AND coalesce(p.image_height, 0) >= $min_height;
