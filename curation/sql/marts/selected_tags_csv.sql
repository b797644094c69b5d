-- selected_tags.csv in the WD tagger layout: tag_id, name, category (Danbooru's number), count.
SELECT st.tag_id, st.name, coalesce(t.category_id, 0) AS category, st.count
FROM selected_tags st JOIN tags t USING (tag_id)
ORDER BY st.count DESC, st.name;
