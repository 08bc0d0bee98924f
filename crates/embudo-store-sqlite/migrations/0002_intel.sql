-- Customer intelligence (docs/schema.md): segment definitions, their members with the history
-- of entries and exits, and per-customer scores. Same conventions as 0001: INTEGER
-- microseconds, JSON as TEXT, booleans as 0/1.

CREATE TABLE segments (
    key         TEXT    NOT NULL PRIMARY KEY
                CHECK (length(key) BETWEEN 1 AND 64 AND key NOT GLOB '*[^a-z0-9_-]*'),
    name        TEXT    NOT NULL,
    description TEXT,
    expression  TEXT    NOT NULL,
    system      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Only customers that exist and are not merged are members; a merge removes the merged-away
-- customer's rows (logging them in segment_changes).
CREATE TABLE segment_members (
    segment_key TEXT    NOT NULL REFERENCES segments (key),
    customer_id TEXT    NOT NULL REFERENCES customers (id),
    entered_at  INTEGER NOT NULL,
    PRIMARY KEY (segment_key, customer_id)
) WITHOUT ROWID;
CREATE INDEX segment_members_customer ON segment_members (customer_id);

-- The history outlives its segment: no reference to `segments`.
CREATE TABLE segment_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    segment_key TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    entered     INTEGER NOT NULL,
    at          INTEGER NOT NULL
);

CREATE TABLE customer_scores (
    customer_id TEXT    NOT NULL PRIMARY KEY REFERENCES customers (id),
    computed_at INTEGER NOT NULL,
    scores      TEXT    NOT NULL
);

-- Guest orders by visitor: a profile's orders include the guest orders of its linked visitors.
CREATE INDEX orders_guest_anonymous ON orders (anonymous_id) WHERE customer_id IS NULL;

-- Analytics in memory and the segment worker find changed orders by their update time.
CREATE INDEX IF NOT EXISTS orders_updated ON orders (updated_at);
