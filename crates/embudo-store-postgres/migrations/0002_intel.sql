-- Customer intelligence (docs/schema.md): segment definitions, their members with the history
-- of entries and exits, and per-customer scores. Same conventions as 0001: timestamptz,
-- jsonb, ids compared byte-wise (COLLATE "C").

CREATE TABLE segments (
    key         TEXT        COLLATE "C" PRIMARY KEY
                CONSTRAINT segments_key_slug CHECK (key ~ '^[a-z0-9_-]{1,64}$'),
    name        TEXT        NOT NULL,
    description TEXT,
    expression  TEXT        NOT NULL,
    system      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Only customers that exist and are not merged are members; a merge removes the merged-away
-- customer's rows (logging them in segment_changes).
CREATE TABLE segment_members (
    segment_key TEXT        COLLATE "C" NOT NULL REFERENCES segments (key),
    customer_id TEXT        COLLATE "C" NOT NULL REFERENCES customers (id),
    entered_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (segment_key, customer_id)
);
CREATE INDEX segment_members_customer ON segment_members (customer_id);

-- The history outlives its segment: no reference to `segments`. Its writers take an advisory
-- lock, so ids are drawn and committed in the same order.
CREATE TABLE segment_changes (
    id          BIGSERIAL   PRIMARY KEY,
    segment_key TEXT        COLLATE "C" NOT NULL,
    customer_id TEXT        COLLATE "C" NOT NULL,
    entered     BOOLEAN     NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE customer_scores (
    customer_id TEXT        COLLATE "C" PRIMARY KEY REFERENCES customers (id),
    computed_at TIMESTAMPTZ NOT NULL,
    scores      JSONB       NOT NULL
);

-- Guest orders by visitor: a profile's orders include the guest orders of its linked visitors.
CREATE INDEX orders_guest_anonymous ON orders (anonymous_id) WHERE customer_id IS NULL;

-- Analytics in memory and the segment worker find changed orders by their update time.
CREATE INDEX IF NOT EXISTS orders_updated ON orders (updated_at);
