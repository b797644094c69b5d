-- Artist tags of the selected posts (with group_by_artist, an artist's posts share a split).
SELECT pt.post_id, pt.tag_id
FROM selection s JOIN post_tags pt USING (post_id) JOIN tags t ON t.tag_id = pt.tag_id AND t.category = 'artist';
