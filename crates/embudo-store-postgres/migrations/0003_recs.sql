-- Recommendations (docs/schema.md): trained models, and the recommendations served, kept for
-- attribution. Same conventions as 0001: timestamptz, jsonb, ids compared byte-wise
-- (COLLATE "C").

-- One row per model key, replaced as a whole. `size` is kept beside the bytes so that polling
-- for a newer model never detoasts them.
CREATE TABLE models (
    key        TEXT        COLLATE "C" PRIMARY KEY
               CONSTRAINT models_key_form CHECK (key ~ '^[A-Za-z0-9._:/-]{1,128}$'),
    trained_at TIMESTAMPTZ NOT NULL,
    stored_at  TIMESTAMPTZ NOT NULL,
    size       BIGINT      NOT NULL,
    bytes      BYTEA       NOT NULL
);
-- Out of line and uncompressed: serialized models (mostly floats) barely compress, and
-- compressing hundreds of megabytes would only cost time on every write and read.
ALTER TABLE models ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- Written once per id (the first row stored is kept). `person` is a person key (`c:<customer
-- id>` or `v:<anonymous id>`), `items` a JSON array of product ids in rank order.
CREATE TABLE recommendations (
    id         TEXT        COLLATE "C" PRIMARY KEY,
    served_at  TIMESTAMPTZ NOT NULL,
    placement  TEXT        NOT NULL,
    person     TEXT        COLLATE "C",
    items      JSONB       NOT NULL,
    context    JSONB       NOT NULL
);

-- A visitor's events (`visitor_events`) are read through the index on events (anonymous_id)
-- that 0001 made.
