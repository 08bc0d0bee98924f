-- Embudo's first schema, as described in docs/schema.md: the same tables and columns as the
-- SQLite backend, with PostgreSQL's types (timestamptz, jsonb, bigint minor units).
--
-- Ids are compared byte-wise (COLLATE "C") whatever the database's default collation, so that
-- listings ordered by id page the same way on every server and on SQLite.

CREATE TABLE events (
    seq          BIGSERIAL   PRIMARY KEY,
    message_id   TEXT        COLLATE "C" NOT NULL,
    kind         TEXT        NOT NULL,
    event        TEXT,
    anonymous_id TEXT        COLLATE "C",
    user_id      TEXT        COLLATE "C",
    customer_id  TEXT        COLLATE "C",
    previous_id  TEXT,
    group_id     TEXT,
    session_id   TEXT,
    ts           TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    properties   JSONB       NOT NULL DEFAULT '{}',
    traits       JSONB       NOT NULL DEFAULT '{}',
    context      JSONB       NOT NULL DEFAULT '{}',
    device_type  TEXT,
    country      TEXT,
    city         TEXT,
    utm_source   TEXT,
    utm_medium   TEXT,
    utm_campaign TEXT,
    referrer     TEXT,
    page_url     TEXT,
    CONSTRAINT events_message_id UNIQUE (message_id)
);
CREATE INDEX events_customer_ts ON events (customer_id, ts);
CREATE INDEX events_anonymous ON events (anonymous_id);
CREATE INDEX events_ts ON events (ts);

CREATE TABLE customers (
    id             TEXT        COLLATE "C" PRIMARY KEY,
    email          TEXT,
    name           TEXT,
    phone          TEXT,
    country        TEXT,
    city           TEXT,
    customer_type  TEXT        NOT NULL DEFAULT 'consumer',
    consent_status TEXT,
    consent_at     TIMESTAMPTZ,
    consent_source TEXT,
    attributes     JSONB       NOT NULL DEFAULT '{}',
    first_seen     TIMESTAMPTZ,
    last_seen      TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ,
    merged_into    TEXT        COLLATE "C" REFERENCES customers (id)
);

CREATE TABLE identities (
    anonymous_id TEXT        COLLATE "C" PRIMARY KEY,
    customer_id  TEXT        COLLATE "C" NOT NULL REFERENCES customers (id),
    linked_at    TIMESTAMPTZ NOT NULL,
    reason       TEXT        NOT NULL
);
CREATE INDEX identities_customer ON identities (customer_id);

CREATE TABLE identity_merges (
    id            BIGSERIAL   PRIMARY KEY,
    anonymous_id  TEXT        COLLATE "C",
    from_customer TEXT        COLLATE "C",
    into_customer TEXT        COLLATE "C" NOT NULL,
    reason        TEXT        NOT NULL,
    message_id    TEXT        COLLATE "C",
    events_moved  BIGINT      NOT NULL DEFAULT 0,
    at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX identity_merges_into ON identity_merges (into_customer);

CREATE TABLE products (
    id                 TEXT        COLLATE "C" PRIMARY KEY,
    sku                TEXT,
    title              TEXT        NOT NULL,
    description        TEXT,
    category_path      JSONB       NOT NULL DEFAULT '[]',
    category           TEXT        NOT NULL DEFAULT '',
    brand              TEXT,
    price              BIGINT,
    currency           TEXT        NOT NULL,
    tags               JSONB       NOT NULL DEFAULT '[]',
    in_stock           BOOLEAN     NOT NULL DEFAULT TRUE,
    inventory_quantity BIGINT,
    url                TEXT,
    image_url          TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE orders (
    id                TEXT        COLLATE "C" PRIMARY KEY,
    customer_id       TEXT        COLLATE "C",
    anonymous_id      TEXT        COLLATE "C",
    email             TEXT,
    placed_at         TIMESTAMPTZ NOT NULL,
    currency          TEXT        NOT NULL,
    merchandise_total BIGINT      NOT NULL,
    total             BIGINT      NOT NULL,
    shipping          BIGINT      NOT NULL DEFAULT 0,
    tax               BIGINT      NOT NULL DEFAULT 0,
    discount          BIGINT      NOT NULL DEFAULT 0,
    coupon            TEXT,
    utm_source        TEXT,
    utm_medium        TEXT,
    utm_campaign      TEXT,
    utm_term          TEXT,
    utm_content       TEXT,
    referrer          TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_customer_placed ON orders (customer_id, placed_at);
CREATE INDEX orders_placed ON orders (placed_at);

-- Lines and status entries belong to their order: an order's lines are replaced by deleting
-- them, and nothing may point at an order that does not exist.
CREATE TABLE order_lines (
    order_id   TEXT   COLLATE "C" NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no    INTEGER NOT NULL,
    kind       TEXT   NOT NULL,
    product_id TEXT   COLLATE "C",
    sku        TEXT,
    title      TEXT,
    quantity   BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    discount   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_product ON order_lines (product_id);

-- Never `refunded`: refunds live in `refunds`.
CREATE TABLE order_status (
    order_id        TEXT        COLLATE "C" NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status          TEXT        NOT NULL CHECK (status <> 'refunded'),
    at              TIMESTAMPTZ NOT NULL,
    carrier         TEXT,
    tracking_number TEXT,
    note            TEXT,
    CONSTRAINT order_status_entry UNIQUE (order_id, status, at)
);

-- No reference to `orders`: a refund may name an order the store has not seen (yet).
CREATE TABLE refunds (
    id          TEXT        COLLATE "C" PRIMARY KEY,
    order_id    TEXT        COLLATE "C",
    customer_id TEXT        COLLATE "C",
    at          TIMESTAMPTZ NOT NULL,
    amount      BIGINT      NOT NULL,
    currency    TEXT        NOT NULL,
    reason      TEXT
);
CREATE UNIQUE INDEX refunds_order_at_amount ON refunds (order_id, at, amount) WHERE order_id IS NOT NULL;
CREATE INDEX refunds_customer ON refunds (customer_id);

CREATE TABLE api_keys (
    id         TEXT        COLLATE "C" PRIMARY KEY,
    name       TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    hash       TEXT        NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
