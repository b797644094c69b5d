-- The last dedupe run's answers for the pairs asked for (registered as wanted_checks: pair):
-- a score for a pair that aligned, NULL for one that did not (curation/dedupe/checks.py).
SELECT k.pair, k.score
FROM catalog.pixel_checks k
JOIN wanted_checks w USING (pair);
