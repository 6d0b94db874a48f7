package watan

import (
	"context"
	"time"
)

// Tenant is a reseller shop. Every other row belongs to exactly one tenant.
type Tenant struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey authenticates a storefront backend as one tenant. Only a hash of the key is
// stored; the plain key is returned once, by CreateAPIKey or RotateAPIKey.
type APIKey struct {
	ID        int64     `json:"id"`
	TenantID  int64     `json:"tenant_id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"` // the first characters, to tell keys apart
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is when the key last authenticated a request, to within
	// APIKeyLastUsedResolution; nil if it never has.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// RevokedAt is when the key was revoked; nil while it works. Revocation is final.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// APIKeyLastUsedResolution is how stale APIKey.LastUsedAt may be: authentication
// records the time only when the stored one is at least this old, so that a busy key
// costs one database write a minute rather than one per request.
const APIKeyLastUsedResolution = time.Minute

// TenantService manages tenants and their API keys. Every key method but
// AuthenticateAPIKey is scoped by tenant: another tenant's key is ECodeNotFound.
type TenantService interface {
	CreateTenant(ctx context.Context, name string) (Tenant, error)
	FindTenant(ctx context.Context, id int64) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	// CreateAPIKey returns the new key's record and its plain text, which is not kept.
	CreateAPIKey(ctx context.Context, tenantID int64, name string) (APIKey, string, error)
	// ListAPIKeys returns the tenant's keys, revoked ones included, oldest first.
	ListAPIKeys(ctx context.Context, tenantID int64) ([]APIKey, error)
	// ListAPIKeysPage returns one page of ListAPIKeys: at most limit keys (default
	// and most 1000) after cursor, a previous page's next cursor ("" for the first
	// page, and on the last page).
	ListAPIKeysPage(ctx context.Context, tenantID int64, limit int, cursor string) (keys []APIKey, next string, err error)
	// RevokeAPIKey revokes the key and returns its record. Revoking a revoked key
	// changes nothing and returns it as it is.
	RevokeAPIKey(ctx context.Context, tenantID, id int64) (APIKey, error)
	// RotateAPIKey creates a key with the same name and revokes key id, both or
	// neither. It returns the new key's record and plain text. A revoked key cannot
	// be rotated (ECodeConflict).
	RotateAPIKey(ctx context.Context, tenantID, id int64) (APIKey, string, error)
	// AuthenticateAPIKey returns the record of a key that is not revoked, or an
	// ECodeUnauthorized error. It records the key's use (see
	// APIKeyLastUsedResolution).
	AuthenticateAPIKey(ctx context.Context, plain string) (APIKey, error)
}
