-- API key lifecycle: when a key was last used (written at most once a minute per key,
-- see watan.APIKeyLastUsedResolution) and when it was revoked. Authentication only
-- accepts keys whose revoked_at is NULL; rows are kept, so a revoked key still lists.
-- Existing keys start as never used and not revoked.
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;
