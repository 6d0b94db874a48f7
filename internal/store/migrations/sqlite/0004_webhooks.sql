-- Webhooks: each tenant may register one callback URL with a signing secret; every
-- status change of an order becomes a delivery (written in the transaction of the
-- change, with its River job), and every HTTP attempt at it is recorded.

CREATE TABLE webhook_endpoints (
    tenant_id  INTEGER PRIMARY KEY REFERENCES tenants (id),
    url        TEXT    NOT NULL,
    -- The HMAC key. Stored as given because signing needs it in the clear; the API
    -- never returns it.
    secret     TEXT    NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL,
    order_id     INTEGER NOT NULL,
    -- seq numbers one order's events 1, 2, 3 ... in the order of the changes, so a
    -- receiver can put deliveries that arrive out of order back in order.
    seq          INTEGER NOT NULL,
    event        TEXT    NOT NULL,
    -- The exact body sent on every attempt; the signature covers these bytes.
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending', -- pending, delivered, failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    CONSTRAINT webhook_deliveries_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT webhook_deliveries_order_seq_key UNIQUE (order_id, seq),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
) STRICT;
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (tenant_id, order_id, seq);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL,
    delivery_id INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0, -- 0: no HTTP answer
    error       TEXT    NOT NULL DEFAULT '',
    duration_us INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id)
) STRICT;
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);
