-- Recommendations (docs/schema.md): trained models, and the recommendations served, kept for
-- attribution. Same conventions as 0001: INTEGER microseconds, JSON as TEXT.

-- One row per model key, replaced as a whole. `size` is kept beside the bytes, and `bytes` is
-- the last column, so that reading the other columns (polling for a newer model) never reads
-- the blob's overflow pages.
CREATE TABLE models (
    key        TEXT    NOT NULL PRIMARY KEY
               CHECK (length(key) BETWEEN 1 AND 128 AND key NOT GLOB '*[^A-Za-z0-9._:/-]*'),
    trained_at INTEGER NOT NULL,
    stored_at  INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    bytes      BLOB    NOT NULL
);

-- Written once per id (the first row stored is kept). `person` is a person key (`c:<customer
-- id>` or `v:<anonymous id>`), `items` a JSON array of product ids in rank order.
CREATE TABLE recommendations (
    id         TEXT    NOT NULL PRIMARY KEY,
    served_at  INTEGER NOT NULL,
    placement  TEXT    NOT NULL,
    person     TEXT,
    items      TEXT    NOT NULL,
    context    TEXT    NOT NULL
);

-- A visitor's events (`visitor_events`) are read through the index on events (anonymous_id)
-- that 0001 made.
