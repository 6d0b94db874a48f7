-- Cluster-wide limits per provider account (see the PostgreSQL migration). An
-- embedded install is one process and limits calls in memory; the tables exist
-- so that both engines share one schema and one implementation.
CREATE TABLE provider_call_leases (
    provider_account_id INTEGER NOT NULL,
    slot                INTEGER NOT NULL,
    holder              TEXT    NOT NULL,
    expires_at          INTEGER NOT NULL,
    PRIMARY KEY (provider_account_id, slot)
) STRICT;

CREATE TABLE provider_call_rates (
    provider_account_id INTEGER PRIMARY KEY,
    next_at             INTEGER NOT NULL
) STRICT;
