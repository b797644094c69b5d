-- Training labels: each selected post's canonical tags, with moderators' accepted decisions
-- applied (an accepted add adds the tag, an accepted remove takes it away). A temp table that
-- tagger_labels and split_manifest read.
CREATE OR REPLACE TEMP TABLE post_labels AS
WITH accepted AS (
    SELECT d.post_id, t.tag_id, d.action
    FROM decisions d
    JOIN tags t ON t.name = d.tag  -- decisions hold canonical names (aliases resolved when recorded)
    WHERE d.decision = 'accept' AND d.post_id IN (SELECT post_id FROM selection)
)
SELECT pt.post_id, pt.tag_id FROM selection s JOIN post_tags pt USING (post_id)
WHERE (pt.post_id, pt.tag_id) NOT IN (SELECT post_id, tag_id FROM accepted WHERE action = 'remove')
UNION
SELECT post_id, tag_id FROM accepted WHERE action = 'add';
