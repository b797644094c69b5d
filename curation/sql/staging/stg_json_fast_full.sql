-- The fast JSON reader with every column (after staging/stg_json_fast set the file and the
-- common columns): the bare tag_string and 2017-style tag objects too, last, in the lean
-- view's order.
CREATE OR REPLACE TEMP VIEW stg_json AS
SELECT * FROM read_json(getvariable('stg_path'), format = 'newline_delimited', maximum_object_size = 4000000,
                        columns = struct_insert(getvariable('stg_json_columns'), tag_string := 'VARCHAR',
                                                tags := 'STRUCT(name VARCHAR, category VARCHAR)[]'));
