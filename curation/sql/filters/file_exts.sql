-- Keep posts whose file extension is one of $file_exts.
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s JOIN posts p USING (post_id)
WHERE list_contains($file_exts, p.file_ext);
