-- watan's initial schema (SQLite).
--
-- The same tables, columns, keys and indexes as the PostgreSQL schema, with SQLite
-- types: STRICT tables so that a wrongly typed value fails instead of being stored;
-- INTEGER PRIMARY KEY ids (rowid aliases: rows are never deleted, so ids only grow);
-- booleans as INTEGER 0/1; times as INTEGER microseconds since the Unix epoch (UTC);
-- JSON as TEXT.

CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT tenants_name_key UNIQUE (name)
) STRICT;

-- The per-tenant order number lives in its own row rather than in tenants.
CREATE TABLE order_counters (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants (id),
    last_number INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    name       TEXT    NOT NULL,
    prefix     TEXT    NOT NULL,
    hash       TEXT    NOT NULL, -- hex SHA-256 of the plain key
    created_at INTEGER NOT NULL,
    CONSTRAINT api_keys_hash_key UNIQUE (hash)
) STRICT;
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id),
    code            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    balance         INTEGER NOT NULL DEFAULT 0,
    overdraft_limit INTEGER NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CONSTRAINT accounts_tenant_code_key UNIQUE (tenant_id, code),
    CONSTRAINT accounts_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT accounts_overdraft_check CHECK (balance >= -overdraft_limit)
) STRICT;

CREATE TABLE provider_accounts (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants (id),
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    base_url      TEXT    NOT NULL,
    credentials   TEXT    NOT NULL DEFAULT '{}', -- plaintext for now; see README
    settings      TEXT    NOT NULL DEFAULT '{}',
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_reason TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CONSTRAINT provider_accounts_tenant_name_key UNIQUE (tenant_id, name),
    CONSTRAINT provider_accounts_tenant_id_key UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE code_groups (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT code_groups_tenant_name_key UNIQUE (tenant_id, name),
    CONSTRAINT code_groups_tenant_id_key UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE packages (
    id                   INTEGER PRIMARY KEY,
    tenant_id            INTEGER NOT NULL REFERENCES tenants (id),
    code                 TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    price                INTEGER NOT NULL CHECK (price >= 0),
    currency             TEXT    NOT NULL,
    active               INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    routing_mode         TEXT    NOT NULL DEFAULT 'manual',
    primary_provider_id  INTEGER,
    fallback_provider_id INTEGER,
    code_group_id        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    CONSTRAINT packages_tenant_code_key UNIQUE (tenant_id, code),
    CONSTRAINT packages_tenant_id_key UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, primary_provider_id) REFERENCES provider_accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, fallback_provider_id) REFERENCES provider_accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, code_group_id) REFERENCES code_groups (tenant_id, id)
) STRICT;

CREATE TABLE mappings (
    tenant_id           INTEGER NOT NULL,
    package_id          INTEGER NOT NULL,
    provider_account_id INTEGER NOT NULL,
    product_id          TEXT    NOT NULL,
    params              TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (package_id, provider_account_id),
    FOREIGN KEY (tenant_id, package_id) REFERENCES packages (tenant_id, id),
    FOREIGN KEY (tenant_id, provider_account_id) REFERENCES provider_accounts (tenant_id, id)
) STRICT;

CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY,
    tenant_id           INTEGER NOT NULL,
    number              INTEGER NOT NULL,
    account_id          INTEGER NOT NULL,
    package_id          INTEGER NOT NULL,
    quantity            INTEGER NOT NULL CHECK (quantity > 0),
    player_id           TEXT    NOT NULL,
    extra               TEXT    NOT NULL DEFAULT '',
    client_order_id     TEXT, -- NULL when the client sent none
    unit_price          INTEGER NOT NULL,
    price               INTEGER NOT NULL CHECK (price >= 0),
    currency            TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    provider_state      TEXT    NOT NULL,
    provider_account_id INTEGER,
    provider_order_id   TEXT    NOT NULL DEFAULT '',
    provider_referans   TEXT, -- NULL until a provider is asked
    pin                 TEXT    NOT NULL DEFAULT '',
    provider_message    TEXT    NOT NULL DEFAULT '',
    fallback_used       INTEGER NOT NULL DEFAULT 0 CHECK (fallback_used IN (0, 1)),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    last_checked_at     INTEGER,
    completed_at        INTEGER,
    deadline            INTEGER,
    check_count         INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT orders_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT orders_tenant_number_key UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, package_id) REFERENCES packages (tenant_id, id),
    FOREIGN KEY (tenant_id, provider_account_id) REFERENCES provider_accounts (tenant_id, id)
) STRICT;
CREATE UNIQUE INDEX orders_client_order_id_key ON orders (tenant_id, client_order_id)
    WHERE client_order_id IS NOT NULL;
CREATE INDEX orders_list_idx ON orders (tenant_id, created_at, id);
CREATE INDEX orders_status_idx ON orders (tenant_id, status, created_at, id);
CREATE INDEX orders_provider_account_idx ON orders (tenant_id, provider_account_id, created_at, id)
    WHERE provider_account_id IS NOT NULL;
CREATE INDEX orders_player_idx ON orders (tenant_id, player_id);
CREATE INDEX orders_provider_referans_idx ON orders (provider_referans)
    WHERE provider_referans IS NOT NULL;

CREATE TABLE ledger_entries (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL,
    account_id    INTEGER NOT NULL,
    order_id      INTEGER,
    kind          TEXT    NOT NULL,
    amount        INTEGER NOT NULL, -- signed: debits are negative
    balance_after INTEGER NOT NULL,
    note          TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
) STRICT;
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_order_idx ON ledger_entries (order_id) WHERE order_id IS NOT NULL;

CREATE TABLE order_events (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    order_id  INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    message   TEXT    NOT NULL DEFAULT '',
    data      TEXT,
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
) STRICT;
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

CREATE TABLE code_items (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL,
    group_id   INTEGER NOT NULL,
    pin        TEXT    NOT NULL,
    order_id   INTEGER,
    used_at    INTEGER,
    created_at INTEGER NOT NULL,
    CONSTRAINT code_items_group_pin_key UNIQUE (group_id, pin),
    FOREIGN KEY (tenant_id, group_id) REFERENCES code_groups (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
) STRICT;
CREATE INDEX code_items_available_idx ON code_items (group_id, id) WHERE order_id IS NULL;
CREATE INDEX code_items_order_idx ON code_items (order_id) WHERE order_id IS NOT NULL;
