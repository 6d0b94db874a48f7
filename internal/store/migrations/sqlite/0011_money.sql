-- Money the way a reseller counts it (issue 13): price groups, the tenant's base
-- currency and exchange-rate history, costs, profit frozen at approval, and the
-- tenant's time zone for daily reports. Every amount is INTEGER minor units; rates
-- are INTEGER units of the currency per unit of the base currency, times 10^8.

ALTER TABLE tenants ADD COLUMN base_currency TEXT NOT NULL DEFAULT 'TRY';
ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

CREATE TABLE price_groups (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER      NOT NULL REFERENCES tenants (id),
    name       TEXT        NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT price_groups_tenant_name_key UNIQUE (tenant_id, name),
    CONSTRAINT price_groups_tenant_id_key UNIQUE (tenant_id, id)
) STRICT;

-- A package's price for one group, in the package's currency; a package without
-- a row for the account's group sells at its own (default) price.
CREATE TABLE package_prices (
    tenant_id      INTEGER NOT NULL,
    package_id     INTEGER NOT NULL,
    price_group_id INTEGER NOT NULL,
    price          INTEGER NOT NULL CHECK (price >= 0),
    PRIMARY KEY (package_id, price_group_id),
    FOREIGN KEY (tenant_id, package_id) REFERENCES packages (tenant_id, id),
    FOREIGN KEY (tenant_id, price_group_id) REFERENCES price_groups (tenant_id, id)
) STRICT;

-- SQLite cannot add a composite foreign key to a table; the store checks the
-- group belongs to the account's tenant.
ALTER TABLE accounts ADD COLUMN price_group_id INTEGER REFERENCES price_groups (id);

-- Append-only: a new rate is a new row, so what an order was converted with stays
-- on record and a change never rewrites the past.
CREATE TABLE exchange_rates (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER      NOT NULL REFERENCES tenants (id),
    base_currency TEXT        NOT NULL,
    currency      TEXT        NOT NULL,
    rate          INTEGER      NOT NULL CHECK (rate > 0),
    set_by        TEXT        NOT NULL,
    set_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX exchange_rates_current_idx ON exchange_rates (tenant_id, base_currency, currency, id);

ALTER TABLE mappings ADD COLUMN cost INTEGER CHECK (cost >= 0);
ALTER TABLE provider_accounts ADD COLUMN currency TEXT NOT NULL DEFAULT 'TRY';
ALTER TABLE provider_accounts ADD COLUMN low_balance_threshold INTEGER;

-- A provider account's balance over time, as its balance probe and its placement
-- answers report it.
CREATE TABLE provider_balances (
    id                  INTEGER PRIMARY KEY,
    tenant_id           INTEGER NOT NULL,
    provider_account_id INTEGER NOT NULL,
    at                  INTEGER NOT NULL,
    balance             INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, provider_account_id) REFERENCES provider_accounts (tenant_id, id)
) STRICT;
CREATE INDEX provider_balances_account_idx ON provider_balances (provider_account_id, at);
ALTER TABLE code_groups ADD COLUMN currency TEXT NOT NULL DEFAULT 'TRY';
ALTER TABLE code_items ADD COLUMN cost INTEGER CHECK (cost >= 0);

-- The order's price as resolved at creation: the group it was priced for and the
-- total in the package's currency (price and currency stay the amount debited, in
-- the account's currency).
ALTER TABLE orders ADD COLUMN price_group_id INTEGER;
ALTER TABLE orders ADD COLUMN list_price INTEGER;
ALTER TABLE orders ADD COLUMN list_currency TEXT NOT NULL DEFAULT '';
-- Cost of the current placement; cleared when the order is rejected.
ALTER TABLE orders ADD COLUMN cost INTEGER;
ALTER TABLE orders ADD COLUMN cost_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN cost_source TEXT NOT NULL DEFAULT '';
-- Profit snapshot, frozen at approval in the base currency with the rates used.
ALTER TABLE orders ADD COLUMN base_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN sell_base INTEGER;
ALTER TABLE orders ADD COLUMN cost_base INTEGER;
ALTER TABLE orders ADD COLUMN sell_rate INTEGER;
ALTER TABLE orders ADD COLUMN cost_rate INTEGER;
ALTER TABLE orders ADD COLUMN frozen_at INTEGER;

-- Statements read an account's entries by time.
CREATE INDEX ledger_entries_account_time_idx ON ledger_entries (account_id, created_at, id);
