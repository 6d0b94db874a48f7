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
// stored; the plain key is returned once, by CreateAPIKey.
type APIKey struct {
	ID        int64     `json:"id"`
	TenantID  int64     `json:"tenant_id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"` // the first characters, to tell keys apart
	CreatedAt time.Time `json:"created_at"`
}

// TenantService manages tenants and their API keys.
type TenantService interface {
	CreateTenant(ctx context.Context, name string) (Tenant, error)
	FindTenant(ctx context.Context, id int64) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	// CreateAPIKey returns the new key's record and its plain text, which is not kept.
	CreateAPIKey(ctx context.Context, tenantID int64, name string) (APIKey, string, error)
	// AuthenticateAPIKey returns the key's record, or an ECodeUnauthorized error.
	AuthenticateAPIKey(ctx context.Context, plain string) (APIKey, error)
}
