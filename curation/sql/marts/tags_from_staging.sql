-- Names the staged posts use that no tag list knows (registered as stg_unknown_tags: ord,
-- name, category_id, the category the dump gave most often): added with ids after the largest
-- known one, so dump tags can be stored and joined as integers. A name the splitter did not
-- know for its capitals (lower-cased since) may be known: it keeps its id.
INSERT INTO tags
SELECT (SELECT coalesce(max(tag_id), 0) FROM tags) + row_number() OVER (ORDER BY u.name), u.name, u.category_id,
       c.category, 0
FROM stg_unknown_tags u LEFT JOIN tag_category_names c USING (category_id)
WHERE u.name NOT IN (SELECT name FROM tags);
