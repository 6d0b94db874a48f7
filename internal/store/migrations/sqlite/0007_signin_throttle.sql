-- Sign-in throttling and sign-in events. The throttle's state lives here rather than
-- in a process's memory so that every node behind a load balancer sees the same
-- counts: an attacker gains nothing by spreading guesses over nodes.
--
-- signin_throttle has one row per throttled key: "user <tenant id> <name>" for a
-- name in a tenant (kept whether or not the user exists, so that throttling does
-- not reveal which names exist) and "addr <address>" for a client address (an
-- IPv6 address by its /64). failures counts the attempts let through since the
-- key's last success (an attempt counts as a failure from the moment it is let
-- through, so that concurrent attempts on several nodes are all counted), last_at
-- is when the last of them was let through. A name's count is forgotten after a
-- quiet day, an address's after a quiet hour; rows quiet for a day are deleted
-- along the way.
CREATE TABLE signin_throttle (
    throttle_key TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX signin_throttle_last_at_idx ON signin_throttle (last_at);

-- signin_events is what the tenant's operators see of sign-ins to their tenant:
-- successes, failures (name is the name tried, which need not exist) and lockouts
-- (scope says whether the name or the address was locked, locked_until until
-- when). Attempts refused by the throttle are not recorded one by one: recording
-- them would let anyone make the database write as fast as they can send requests.
CREATE TABLE signin_events (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    name         TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    scope        TEXT    NOT NULL DEFAULT '',
    locked_until INTEGER,
    at           INTEGER NOT NULL
) STRICT;
CREATE INDEX signin_events_tenant_idx ON signin_events (tenant_id, at DESC, id DESC);
CREATE INDEX signin_events_at_idx ON signin_events (at);
