-- Operators' roles (admin: manages operators and API keys; operator: works
-- orders) and disabling, which ends a user's sessions and refuses their sign-in
-- without deleting the audit trail that names them. Existing users were all
-- allowed everything: they become admins.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
