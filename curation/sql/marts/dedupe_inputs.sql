-- Selected posts whose file decodes, with its hashes and what the representative rules need.
SELECT p.post_id, i.file_md5, h.pixel_sha256, h.phash, h.dhash, h.phash_mirror, h.dhash_mirror, h.information,
       p.parent_id, coalesce(i.width, 0) * coalesce(i.height, 0) AS pixels, coalesce(p.score, 0) AS score,
       coalesce(t.n, 0) AS tags, h.bg_phash, h.bg_dhash, coalesce(i.has_alpha, false) AS has_alpha,
       h.bg_information, h.bg_black_phash, h.bg_black_dhash, coalesce(i.width, 0) AS width,
       coalesce(i.height, 0) AS height, h.thumb_phash, h.unpadded_phash, h.turned_phash_90, h.turned_phash_180,
       h.turned_phash_270, h.region_phashes
FROM selection s
JOIN posts p USING (post_id)
JOIN images i USING (post_id)
JOIN image_hashes h ON h.md5 = i.file_md5
LEFT JOIN (SELECT post_id, count(*) AS n FROM post_tags GROUP BY post_id) t USING (post_id)
WHERE i.status IN ('ok', 'animated', 'transparent')
ORDER BY p.post_id;
