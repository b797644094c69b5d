-- A batch without repeated ids is final as it is (the common case: no window over it).
CREATE OR REPLACE TEMP VIEW batch_final AS SELECT * FROM batch_posts;
