-- Register a prediction set (ours, an ONNX tagger's, or imported) for comparisons.
INSERT OR REPLACE INTO taggers VALUES ($name, $kind, $folder, $posts, $tags, now());
