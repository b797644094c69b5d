-- Per label tag, how many posts of each split carry it (selected_tags.csv order).
SELECT st.tag_id, st.name, st.category, st.count,
       count(*) FILTER (WHERE sp.split = 'train') AS train,
       count(*) FILTER (WHERE sp.split = 'val') AS val,
       count(*) FILTER (WHERE sp.split = 'test') AS test
FROM selected_tags st
LEFT JOIN post_tags pt ON pt.tag_id = st.tag_id
LEFT JOIN splits sp ON sp.post_id = pt.post_id
GROUP BY ALL
ORDER BY st.count DESC, st.name;
