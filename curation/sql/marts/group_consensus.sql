-- For each post in wanted_posts that is in a duplicate group: how many other members the group
-- has (mates), and per tag how many of them carry it (carrying). Removals the group contradicts
-- are dropped by `curate suggest`.
WITH mates AS (
    SELECT g.post_id, m.post_id AS mate
    FROM dup_groups g JOIN dup_groups m ON m.group_id = g.group_id AND m.post_id <> g.post_id
    WHERE g.post_id IN (SELECT post_id FROM wanted_posts)
), sizes AS (
    SELECT post_id, count(*) AS mates FROM mates GROUP BY post_id
)
SELECT mt.post_id, s.mates, t.name AS tag, count(*) AS carrying
FROM mates mt
JOIN sizes s USING (post_id)
JOIN post_tags pt ON pt.post_id = mt.mate
JOIN tags t USING (tag_id)
GROUP BY mt.post_id, s.mates, t.name
ORDER BY mt.post_id, t.name;
