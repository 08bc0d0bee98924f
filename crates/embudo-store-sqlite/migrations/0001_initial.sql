-- Embudo's first schema, as described in docs/schema.md.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC); JSON is TEXT; money is
-- INTEGER minor units next to a `currency` column.

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    event        TEXT,
    anonymous_id TEXT,
    user_id      TEXT,
    customer_id  TEXT,
    previous_id  TEXT,
    group_id     TEXT,
    session_id   TEXT,
    ts           INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    properties   TEXT    NOT NULL DEFAULT '{}',
    traits       TEXT    NOT NULL DEFAULT '{}',
    context      TEXT    NOT NULL DEFAULT '{}',
    device_type  TEXT,
    country      TEXT,
    city         TEXT,
    utm_source   TEXT,
    utm_medium   TEXT,
    utm_campaign TEXT,
    referrer     TEXT,
    page_url     TEXT
);
CREATE UNIQUE INDEX events_message_id ON events (message_id);
CREATE INDEX events_customer_ts ON events (customer_id, ts);
CREATE INDEX events_anonymous ON events (anonymous_id);
CREATE INDEX events_ts ON events (ts);

CREATE TABLE customers (
    id             TEXT    NOT NULL PRIMARY KEY,
    email          TEXT,
    name           TEXT,
    phone          TEXT,
    country        TEXT,
    city           TEXT,
    customer_type  TEXT    NOT NULL DEFAULT 'consumer',
    consent_status TEXT,
    consent_at     INTEGER,
    consent_source TEXT,
    attributes     TEXT    NOT NULL DEFAULT '{}',
    first_seen     INTEGER,
    last_seen      INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER,
    merged_into    TEXT REFERENCES customers (id)
);

CREATE TABLE identities (
    anonymous_id TEXT    NOT NULL PRIMARY KEY,
    customer_id  TEXT    NOT NULL REFERENCES customers (id),
    linked_at    INTEGER NOT NULL,
    reason       TEXT    NOT NULL
);
CREATE INDEX identities_customer ON identities (customer_id);

CREATE TABLE identity_merges (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    anonymous_id  TEXT,
    from_customer TEXT,
    into_customer TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    message_id    TEXT,
    events_moved  INTEGER NOT NULL DEFAULT 0,
    at            INTEGER NOT NULL
);
CREATE INDEX identity_merges_into ON identity_merges (into_customer);

CREATE TABLE products (
    id                 TEXT    NOT NULL PRIMARY KEY,
    sku                TEXT,
    title              TEXT    NOT NULL,
    description        TEXT,
    category_path      TEXT    NOT NULL DEFAULT '[]',
    category           TEXT    NOT NULL DEFAULT '',
    brand              TEXT,
    price              INTEGER,
    currency           TEXT    NOT NULL,
    tags               TEXT    NOT NULL DEFAULT '[]',
    in_stock           INTEGER NOT NULL DEFAULT 1,
    inventory_quantity INTEGER,
    url                TEXT,
    image_url          TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE orders (
    id                TEXT    NOT NULL PRIMARY KEY,
    customer_id       TEXT,
    anonymous_id      TEXT,
    email             TEXT,
    placed_at         INTEGER NOT NULL,
    currency          TEXT    NOT NULL,
    merchandise_total INTEGER NOT NULL,
    total             INTEGER NOT NULL,
    shipping          INTEGER NOT NULL DEFAULT 0,
    tax               INTEGER NOT NULL DEFAULT 0,
    discount          INTEGER NOT NULL DEFAULT 0,
    coupon            TEXT,
    utm_source        TEXT,
    utm_medium        TEXT,
    utm_campaign      TEXT,
    utm_term          TEXT,
    utm_content       TEXT,
    referrer          TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX orders_customer_placed ON orders (customer_id, placed_at);
CREATE INDEX orders_placed ON orders (placed_at);

-- Lines and status entries belong to their order: an order's lines are replaced by deleting
-- them, and nothing may point at an order that does not exist.
CREATE TABLE order_lines (
    order_id   TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    product_id TEXT,
    sku        TEXT,
    title      TEXT,
    quantity   INTEGER NOT NULL,
    unit_price INTEGER NOT NULL,
    discount   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_product ON order_lines (product_id);

-- Never `refunded`: refunds live in `refunds`.
CREATE TABLE order_status (
    order_id        TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL CHECK (status <> 'refunded'),
    at              INTEGER NOT NULL,
    carrier         TEXT,
    tracking_number TEXT,
    note            TEXT,
    UNIQUE (order_id, status, at)
);

-- No reference to `orders`: a refund may name an order the store has not seen (yet).
CREATE TABLE refunds (
    id          TEXT    NOT NULL PRIMARY KEY,
    order_id    TEXT,
    customer_id TEXT,
    at          INTEGER NOT NULL,
    amount      INTEGER NOT NULL,
    currency    TEXT    NOT NULL,
    reason      TEXT
);
CREATE UNIQUE INDEX refunds_order_at_amount ON refunds (order_id, at, amount) WHERE order_id IS NOT NULL;
CREATE INDEX refunds_customer ON refunds (customer_id);

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
