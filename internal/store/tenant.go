package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"watan"
)

// CreateTenant creates a tenant with the source of its order numbers: on PostgreSQL
// its sequence (see orderSequence), on SQLite its counter row. Either is created in
// the tenant's transaction, so no tenant exists without one. Names are unique.
func (s *Store) CreateTenant(ctx context.Context, name string) (watan.Tenant, error) {
	if err := checkName("name", name); err != nil {
		return watan.Tenant{}, err
	}
	t := watan.Tenant{Name: name, CreatedAt: s.now()}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id`,
			name, s.ts(t.CreatedAt)).Scan(&t.ID)
		if isUniqueViolation(err) {
			return watan.Errorf(watan.ECodeConflict, "a tenant named %q already exists", name)
		}
		if err != nil {
			return fmt.Errorf("store: create tenant: %w", err)
		}
		if s.engine == EnginePostgres {
			// Not IF NOT EXISTS: a leftover sequence would make the new tenant's
			// numbers start somewhere other than 1, so it is an error to look at.
			// The identifier is built from an integer, so it needs no quoting.
			if _, err := tx.ExecContext(ctx, `CREATE SEQUENCE `+orderSequence(t.ID)+` AS BIGINT CACHE 1`); err != nil {
				return fmt.Errorf("store: create tenant order sequence: %w", err)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_counters (tenant_id, last_number) VALUES ($1, 0)`, t.ID); err != nil {
			return fmt.Errorf("store: create tenant counter: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.Tenant{}, err
	}
	return t, nil
}

// orderSequence names the PostgreSQL sequence of the tenant's order numbers. The name
// is unqualified, in CREATE SEQUENCE and in nextval alike, so that it resolves
// through search_path to the schema the tables are in. CACHE 1 on creation keeps
// numbers increasing across connections; a cache per connection would not.
// Migration 0003 creates these for tenants that existed before it, with the same
// name and options.
func orderSequence(tenantID int64) string {
	return "order_number_" + strconv.FormatInt(tenantID, 10)
}

// FindTenant returns the tenant with id, or an ECodeNotFound error.
func (s *Store) FindTenant(ctx context.Context, id int64) (watan.Tenant, error) {
	var t watan.Tenant
	err := s.db.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = $1`, id).
		Scan(&t.ID, &t.Name, timeCol{&t.CreatedAt})
	if isNoRows(err) {
		return watan.Tenant{}, errNotFound("tenant", id)
	}
	if err != nil {
		return watan.Tenant{}, fmt.Errorf("store: find tenant: %w", err)
	}
	return t, nil
}

// ListTenants returns every tenant in creation order.
func (s *Store) ListTenants(ctx context.Context) ([]watan.Tenant, error) {
	return list(ctx, s.db, "list tenants", func(r rowScanner) (watan.Tenant, error) {
		var t watan.Tenant
		err := r.Scan(&t.ID, &t.Name, timeCol{&t.CreatedAt})
		return t, err
	}, `SELECT id, name, created_at FROM tenants ORDER BY id`)
}

// API keys are "wtn_" followed by 32 random bytes in lower-case base32 (52
// characters). Only their SHA-256 is stored: the key has 256 bits of entropy, so a
// fast unsalted hash is enough, and it lets authentication be one indexed lookup.
const (
	apiKeyPrefix    = "wtn_"
	apiKeyLen       = len(apiKeyPrefix) + 52
	apiKeyShownPart = len(apiKeyPrefix) + 8
)

var apiKeyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func hashAPIKey(plain string) string {
	h := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(h[:])
}

// CreateAPIKey creates a key for the tenant and returns its record and its plain
// text, which is not kept anywhere.
func (s *Store) CreateAPIKey(ctx context.Context, tenantID int64, name string) (watan.APIKey, string, error) {
	if name != "" {
		if err := checkName("name", name); err != nil {
			return watan.APIKey{}, "", err
		}
	}
	var raw [32]byte
	rand.Read(raw[:]) // never fails; see crypto/rand.Read
	plain := apiKeyPrefix + strings.ToLower(apiKeyEncoding.EncodeToString(raw[:]))
	k := watan.APIKey{TenantID: tenantID, Name: name, Prefix: plain[:apiKeyShownPart], CreatedAt: s.now()}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, tenantID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO api_keys (tenant_id, name, prefix, hash, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			tenantID, name, k.Prefix, hashAPIKey(plain), s.ts(k.CreatedAt)).Scan(&k.ID)
		if err != nil {
			return fmt.Errorf("store: create api key: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.APIKey{}, "", err
	}
	return k, plain, nil
}

// AuthenticateAPIKey returns the record of the key plain, or an ECodeUnauthorized
// error that does not say why.
func (s *Store) AuthenticateAPIKey(ctx context.Context, plain string) (watan.APIKey, error) {
	unauthorized := watan.Errorf(watan.ECodeUnauthorized, "invalid API key")
	if len(plain) != apiKeyLen || !strings.HasPrefix(plain, apiKeyPrefix) {
		return watan.APIKey{}, unauthorized
	}
	var k watan.APIKey
	err := s.db.QueryRowContext(ctx, `SELECT id, tenant_id, name, prefix, created_at FROM api_keys WHERE hash = $1`,
		hashAPIKey(plain)).Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, timeCol{&k.CreatedAt})
	if isNoRows(err) {
		return watan.APIKey{}, unauthorized
	}
	if err != nil {
		return watan.APIKey{}, fmt.Errorf("store: authenticate api key: %w", err)
	}
	return k, nil
}

func tenantExists(ctx context.Context, q querier, tenantID int64) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = $1`, tenantID).Scan(&one)
	if isNoRows(err) {
		return errNotFound("tenant", tenantID)
	}
	if err != nil {
		return fmt.Errorf("store: find tenant: %w", err)
	}
	return nil
}
