-- The pixel checks this dedupe run used (registered as used_checks: pair, score), kept for the next.
CREATE OR REPLACE TABLE pixel_checks AS
SELECT pair, score FROM used_checks;
