-- The catalog's normalised tables. Other stages and outside checks query these names.
-- posts' primary key (post_id) is added by schema/posts_key once an ingest has written the first
-- posts: an index built over a million rows at once costs a fraction of one kept up row by row.
CREATE TABLE IF NOT EXISTS posts (
    post_id BIGINT,              -- the primary key (schema/posts_key)
    source VARCHAR,              -- the artwork's source URL(s), as the board records them
    created_at TIMESTAMP,        -- UTC
    updated_at TIMESTAMP,        -- UTC
    md5 VARCHAR,
    file_ext VARCHAR,
    file_size BIGINT,
    image_width INTEGER,
    image_height INTEGER,
    rating VARCHAR,              -- g s q e
    parent_id BIGINT,            -- NULL when none
    has_children BOOLEAN,
    is_deleted BOOLEAN,
    is_banned BOOLEAN,
    is_flagged BOOLEAN,
    is_pending BOOLEAN,
    score INTEGER,
    fav_count INTEGER,
    dump_file VARCHAR,           -- the dump this row came from
    is_removed BOOLEAN DEFAULT false,  -- absent from a newer full dump
    row_hash UBIGINT             -- of the dump's values, to tell changed rows from unchanged
);
CREATE TABLE IF NOT EXISTS tags (
    tag_id BIGINT,
    name VARCHAR PRIMARY KEY,
    category_id INTEGER,
    category VARCHAR,            -- general artist copyright character meta; e621 also species lore ...
    post_count BIGINT
);
CREATE TABLE IF NOT EXISTS dump_tags (      -- tags as the dump wrote them (their own tag ids), before canonicalising
    post_id BIGINT,
    tag_ids INTEGER[]            -- one list per post (1 M rows at board scale, not 19 M); BIGINT[] in catalogs made before
);
CREATE TYPE IF NOT EXISTS tag_origin AS ENUM ('dump', 'implied');
-- post_id and origin come in long runs (rows are written post by post): run-length encoded by
-- choice, DuckDB need not weigh bit-packing for them as well, which made writing 20 M rows take
-- 1.6x as long (the file is 62 MB against 52 MB at board scale). tag_id is left to DuckDB.
CREATE TABLE IF NOT EXISTS post_tags (
    post_id BIGINT USING COMPRESSION rle,
    tag_id BIGINT,
    origin tag_origin USING COMPRESSION rle  -- 'dump' or 'implied'
);
CREATE TABLE IF NOT EXISTS tag_aliases (
    antecedent VARCHAR,
    consequent VARCHAR,
    status VARCHAR,
    PRIMARY KEY (antecedent, consequent)
);
CREATE TABLE IF NOT EXISTS tag_canonical (  -- every alias antecedent -> its final name (marts/tag_canonical)
    name VARCHAR PRIMARY KEY,
    canonical VARCHAR,
    hops INTEGER,                -- aliases followed
    cycle BOOLEAN                -- on a cycle of aliases: keeps its own name
);
-- A tag name as the catalog stores it: lower case, trimmed, through aliases (chains followed).
CREATE OR REPLACE MACRO canonical_tag(n) AS
    coalesce((SELECT c.canonical FROM tag_canonical c WHERE c.name = lower(trim(n))), lower(trim(n)));
CREATE TABLE IF NOT EXISTS tag_implications (
    antecedent VARCHAR,
    consequent VARCHAR,
    status VARCHAR,
    PRIMARY KEY (antecedent, consequent)
);
CREATE TABLE IF NOT EXISTS ingest_rejects (
    dump_file VARCHAR,
    position BIGINT,             -- 1-based line (JSON lines) or record (CSV, header excluded)
    reason VARCHAR,
    raw VARCHAR
);
CREATE TABLE IF NOT EXISTS dumps (
    dump_file VARCHAR,
    format VARCHAR,
    snapshot_date DATE,
    sha256 VARCHAR PRIMARY KEY,
    rows BIGINT,
    ingested_at TIMESTAMP,
    file_size BIGINT             -- bytes: a file of a size never ingested is new without hashing it first
);
CREATE TABLE IF NOT EXISTS images (         -- one row per selected post: where its file is and what it is
    post_id BIGINT PRIMARY KEY,
    md5 VARCHAR,                 -- the board's md5 for the post
    path VARCHAR,                -- NULL when no file was found
    status VARCHAR,              -- ok | missing | corrupt | bomb | animated | transparent (the last two by policy)
    width INTEGER,
    height INTEGER,
    has_alpha BOOLEAN,           -- real transparency, not an opaque alpha channel
    frames INTEGER,
    error VARCHAR,
    file_md5 VARCHAR,            -- md5 of the bytes found (differs from md5 for damaged copies)
    format VARCHAR,
    mode VARCHAR
);
CREATE TABLE IF NOT EXISTS image_hashes (   -- cached by the file's md5: a new dump hashes only new files
    md5 VARCHAR PRIMARY KEY,
    width INTEGER,
    height INTEGER,
    has_alpha BOOLEAN,
    frames INTEGER,
    format VARCHAR,
    mode VARCHAR,
    pixel_sha256 VARCHAR,        -- decoded pixels: equal for re-encodes that keep them
    phash UBIGINT,               -- 64-bit pHash of the normalised picture (alpha flattened, borders trimmed)
    dhash UBIGINT,
    phash_mirror UBIGINT,        -- of the mirror image, for flipped reposts
    dhash_mirror UBIGINT,
    information REAL,            -- grey-level spread of a 32x32 thumbnail: ~0 for flat images
    bg_phash UBIGINT,            -- pHash with the background turned white (transparent or flat background), else NULL
    bg_dhash UBIGINT,
    bg_information REAL,         -- the grey-level spread of that whitened picture
    bg_black_phash UBIGINT,      -- transparent files: pHash flattened on black, then whitened (a copy on black)
    bg_black_dhash UBIGINT,
    thumb BLOB,                  -- grey thumbnail (long side 64, row-major bytes) to align crops and padded copies
    thumb_alpha BLOB,            -- its alpha channel, transparent files only
    thumb_width SMALLINT,        -- the thumbnail's width (its height: length / width)
    thumb_phash UBIGINT,         -- pHash of that whole thumbnail (untrimmed): resizes keep it
    unpadded_phash UBIGINT,      -- pHash of the thumbnail less its flat margins (letterbox padding); 0 when none
    turned_phash_90 UBIGINT,     -- pHash of the whole thumbnail turned 90 degrees counterclockwise
    turned_phash_180 UBIGINT,
    turned_phash_270 UBIGINT,
    region_phashes BLOB,         -- pHashes of 13 regions of the thumbnail (hashing.REGIONS), 13 x little-endian uint64
    keypoint_xy BLOB,            -- ORB keypoints' positions (float16 pairs, long side 256 frame): curation.dedupe.keypoints
    keypoints BLOB,              -- their 32-byte descriptors; empty when the picture has too few
    hash_version INTEGER         -- hashes of another version are recomputed (curation.images.hashing.HASH_VERSION)
);
CREATE TABLE IF NOT EXISTS embeddings (     -- where each file's vector is in cache/embeddings/<embedder>/
    md5 VARCHAR,                 -- the file's md5 (images.file_md5)
    embedder VARCHAR,            -- model, weights and preprocessing: changing any of them re-embeds
    shard INTEGER,               -- shard_<shard>.npy
    row INTEGER,                 -- row in that shard
    PRIMARY KEY (md5, embedder)
);
CREATE TABLE IF NOT EXISTS embed_rejects (  -- files the embedder could not read (not retried for that embedder)
    md5 VARCHAR,
    embedder VARCHAR,
    path VARCHAR,
    error VARCHAR,
    PRIMARY KEY (md5, embedder)
);
CREATE TABLE IF NOT EXISTS dup_edges (      -- written by `curate dedupe` (empty until then)
    post_a BIGINT,
    post_b BIGINT,
    kind VARCHAR,                -- exact pixels perceptual mirror background semantic variant
    distance INTEGER,            -- Hamming distance, for hash edges
    similarity REAL,             -- cosine similarity, for embedding edges
    precision_estimate REAL      -- how likely such an edge is right (curation/dedupe/precision.py)
);
CREATE TABLE IF NOT EXISTS dup_groups (
    post_id BIGINT,
    group_id BIGINT,             -- the representative's post id
    is_representative BOOLEAN
);
CREATE TABLE IF NOT EXISTS taggers (        -- prediction sets in cache/predictions/, for metrics and comparisons
    name VARCHAR PRIMARY KEY,    -- kfold-heads, onnx:<model>, imported:<file>
    kind VARCHAR,                -- kfold-head | external
    folder VARCHAR,
    posts BIGINT,
    tags INTEGER,
    made_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS tagger_folds (   -- which fold's head predicted each post (out-of-fold)
    post_id BIGINT PRIMARY KEY,
    fold INTEGER
);
CREATE TABLE IF NOT EXISTS decisions (      -- moderators' verdicts on suggestions; kept across rebuilds
    post_id BIGINT,
    tag VARCHAR,                 -- canonical tag name
    action VARCHAR,              -- add | remove
    decision VARCHAR,            -- accept | reject
    moderator VARCHAR,
    decided_at TIMESTAMP,
    note VARCHAR,
    PRIMARY KEY (post_id, tag, action)
);
CREATE TABLE IF NOT EXISTS run_history (   -- every stage of every rebuild, ran or skipped: `curate runs`
    run_id VARCHAR,              -- one rebuild
    trigger VARCHAR,             -- cli | schedule | a flow's name
    stage VARCHAR,
    ran BOOLEAN,
    reason VARCHAR,              -- why it ran or was skipped
    finished_at TIMESTAMP,       -- UTC
    seconds DOUBLE,
    changed VARCHAR,             -- what it added, changed or found, in a few words
    outcome VARCHAR              -- ok | failed: the error's first line
);
CREATE TABLE IF NOT EXISTS stage_runs (     -- the last successful run of each stage: a rebuild skips unchanged ones
    stage VARCHAR PRIMARY KEY,
    fingerprint VARCHAR,         -- of its config, the code, upstream fingerprints and input files
    finished_at TIMESTAMP,
    seconds DOUBLE,
    summary VARCHAR              -- JSON: the stage's report
);
