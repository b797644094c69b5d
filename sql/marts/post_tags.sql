-- post_tags from the canonical tags (rebuilt whole: aliases or implications may have changed).
CREATE OR REPLACE TABLE post_tags AS
SELECT c.post_id, t.tag_id, c.origin FROM canonical_tags c JOIN tags t USING (name);
