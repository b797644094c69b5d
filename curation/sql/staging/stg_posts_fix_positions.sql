-- Lines the CSV reader rejected (not UTF-8) are missing from json_lines, so row numbers after
-- them are short by one each: the good line numbered n sits after every rejected line L_i
-- (the i-th, in order) with L_i - i < n.
UPDATE stg_json_rows
SET position = position + (
    SELECT count(*) FROM csv_bad_lines b WHERE b.line - b.idx < stg_json_rows.position
);
