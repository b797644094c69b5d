-- How the batch changes the catalog: new ids, changed rows (or removed ones that came back),
-- unchanged rows, and, for a full dump, posts it no longer lists (of dumps of its format, as
-- marts/posts_mark_removed).
SELECT
    count(*) FILTER (WHERE p.post_id IS NULL) AS new,
    count(*) FILTER (WHERE p.post_id IS NOT NULL AND (p.row_hash <> b.row_hash OR p.is_removed)) AS changed,
    count(*) FILTER (WHERE p.post_id IS NOT NULL AND p.row_hash = b.row_hash AND NOT p.is_removed) AS unchanged,
    (SELECT count(*) FROM posts q WHERE NOT q.is_removed AND q.post_id NOT IN (SELECT post_id FROM batch_final)
                                     AND q.dump_file IN (SELECT dump_file FROM dumps WHERE format = $format)) AS absent
FROM batch_final b LEFT JOIN posts p USING (post_id);
