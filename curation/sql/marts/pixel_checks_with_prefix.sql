-- The last dedupe run's answers whose key starts with $prefix (one check's, e.g. the composite
-- check's, whose pairs are too many to list: curation/dedupe/stage.py, CompositeAnswers).
SELECT pair, score
FROM catalog.pixel_checks
WHERE starts_with(pair, $prefix);
