-- The catalog's normalised tables. Other stages and outside checks query these names.
CREATE TABLE IF NOT EXISTS posts (
    post_id BIGINT PRIMARY KEY,
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
    tag_id BIGINT
);
CREATE TYPE IF NOT EXISTS tag_origin AS ENUM ('dump', 'implied');
CREATE TABLE IF NOT EXISTS post_tags (
    post_id BIGINT,
    tag_id BIGINT,
    origin tag_origin            -- 'dump' or 'implied'
);
CREATE TABLE IF NOT EXISTS tag_aliases (
    antecedent VARCHAR,
    consequent VARCHAR,
    status VARCHAR,
    PRIMARY KEY (antecedent, consequent)
);
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
    ingested_at TIMESTAMP
);
