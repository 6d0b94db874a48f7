-- A provider account's own timeline: its circuit breaker opening, half-opening and
-- closing, and operators pausing and resuming it. Written rarely (on changes, not
-- per call), read by the Providers page and the API newest first.
CREATE TABLE provider_account_events (
    id                  INTEGER PRIMARY KEY,
    tenant_id           INTEGER NOT NULL,
    provider_account_id INTEGER NOT NULL,
    at                  INTEGER NOT NULL,
    actor               TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    message             TEXT    NOT NULL DEFAULT '',
    FOREIGN KEY (tenant_id, provider_account_id) REFERENCES provider_accounts (tenant_id, id)
) STRICT;
CREATE INDEX provider_account_events_account_idx ON provider_account_events (tenant_id, provider_account_id, id);

-- Until now only the engine paused accounts, on the first misconfiguration signal,
-- and a probe resumed them. The circuit breaker replaces both; a pause is now an
-- operator's hold. Lift the automatic ones, so no account waits for a probe that no
-- longer runs.
UPDATE provider_accounts SET paused = 0, paused_reason = '' WHERE paused;
