-- Cluster-wide limits per provider account, for several nodes on one database.
--
-- provider_call_leases: one row per slot of an account's calls in flight (slots
-- 0 .. max_in_flight-1). A node takes a free or expired slot before a call and
-- deletes its row after; a node that dies leaves its row, which expires after the
-- longest a call can last, so its slots come back without anyone's help. holder is
-- unique per call, so a late release never frees a slot someone else took since.
CREATE TABLE provider_call_leases (
    provider_account_id BIGINT      NOT NULL,
    slot                INTEGER     NOT NULL,
    holder              TEXT        NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider_account_id, slot)
);

-- provider_call_rates: for accounts with max_per_second, when the next call may
-- start. Each call reserves the next free moment and waits for it.
CREATE TABLE provider_call_rates (
    provider_account_id BIGINT      PRIMARY KEY,
    next_at             TIMESTAMPTZ NOT NULL
);
