-- Operators of the dashboard: per-tenant users with bcrypt password hashes, and
-- their server-side sessions. A session is found by the SHA-256 of its cookie, so
-- that reading this table does not hand out working cookies; its CSRF token is
-- per session and checked on every POST.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants (id),
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    lang          TEXT    NOT NULL DEFAULT 'en',
    created_at    INTEGER NOT NULL,
    CONSTRAINT users_tenant_name_key UNIQUE (tenant_id, name),
    CONSTRAINT users_tenant_id_key UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE user_sessions (
    token_hash TEXT    PRIMARY KEY,
    tenant_id  INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX user_sessions_expires_idx ON user_sessions (expires_at);

-- The overview counts timeouts of the day by event kind.
CREATE INDEX order_events_tenant_kind_at_idx ON order_events (tenant_id, kind, at);
