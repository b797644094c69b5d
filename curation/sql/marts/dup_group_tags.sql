-- With [dedupe] merge_tags: every tag any member of a duplicate group carries, credited to the
-- group's representative (post_id), with how many members carry it.
CREATE OR REPLACE TABLE dup_group_tags AS
SELECT g.group_id AS post_id, pt.tag_id, count(DISTINCT g.post_id) AS members_with_tag
FROM dup_groups g JOIN post_tags pt USING (post_id)
GROUP BY g.group_id, pt.tag_id
ORDER BY post_id, tag_id;
