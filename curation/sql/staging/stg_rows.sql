-- The staged rows with their positions: a reader that numbers no lines (the fast JSON reader)
-- leaves position NULL, and its rows were staged in file order, so rowid + 1 is the line.
CREATE OR REPLACE TEMP VIEW stg_rows AS
SELECT coalesce(position, rowid + 1) AS position, * EXCLUDE (position) FROM stg_staged;
