-- One split's training manifest: posts whose file is usable (status ok), duplicates reduced to
-- their group's representative unless $all_posts, with label tags (post_labels: moderators'
-- accepted decisions applied) as names and as indices into selected_tags.csv (by count, then name).
WITH tag_index AS (
    SELECT tag_id, name, row_number() OVER (ORDER BY count DESC, name) - 1 AS idx FROM selected_tags
)
SELECT sp.post_id, i.file_md5 AS md5, i.path, i.width, i.height, p.rating,
       coalesce(list(ti.name ORDER BY ti.idx) FILTER (WHERE ti.idx IS NOT NULL), []) AS tags,
       coalesce(list(ti.idx ORDER BY ti.idx) FILTER (WHERE ti.idx IS NOT NULL), []) AS tag_idx
FROM splits sp
JOIN posts p USING (post_id)
JOIN images i USING (post_id)
LEFT JOIN post_labels pt USING (post_id)
LEFT JOIN tag_index ti ON ti.tag_id = pt.tag_id
WHERE sp.split = $split AND i.status = 'ok'
  AND ($all_posts OR sp.post_id NOT IN (SELECT post_id FROM dup_groups WHERE NOT is_representative))
GROUP BY sp.post_id, i.file_md5, i.path, i.width, i.height, p.rating
ORDER BY sp.post_id;
