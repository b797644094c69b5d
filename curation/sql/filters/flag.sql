-- Drop posts carrying one status flag ($flag: is_deleted, is_banned, is_flagged, is_pending).
CREATE OR REPLACE TEMP TABLE selection_out AS
SELECT s.post_id FROM selection_in s JOIN posts p USING (post_id)
WHERE NOT coalesce(CASE $flag
    WHEN 'is_deleted' THEN p.is_deleted WHEN 'is_banned' THEN p.is_banned
    WHEN 'is_flagged' THEN p.is_flagged WHEN 'is_pending' THEN p.is_pending END, false);
