-- The label tags in column order, with what metrics slice by.
SELECT name, category, count, row_number() OVER (ORDER BY count DESC, name) - 1 AS idx
FROM selected_tags ORDER BY idx;
