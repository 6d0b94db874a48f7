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

// newAPIKey returns a fresh plain key.
func newAPIKey() string {
	var raw [32]byte
	rand.Read(raw[:]) // never fails; see crypto/rand.Read
	return apiKeyPrefix + strings.ToLower(apiKeyEncoding.EncodeToString(raw[:]))
}

// apiKeyColumns are the columns scanAPIKey reads, in its order.
const apiKeyColumns = `id, tenant_id, name, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(r rowScanner) (watan.APIKey, error) {
	var k watan.APIKey
	err := r.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, timeCol{&k.CreatedAt},
		nullTimeCol{&k.LastUsedAt}, nullTimeCol{&k.RevokedAt})
	return k, err
}

// CreateAPIKey creates a key for the tenant and returns its record and its plain
// text, which is not kept anywhere.
func (s *Store) CreateAPIKey(ctx context.Context, tenantID int64, name string) (watan.APIKey, string, error) {
	if name != "" {
		if err := checkName("name", name); err != nil {
			return watan.APIKey{}, "", err
		}
	}
	var (
		k     watan.APIKey
		plain string
	)
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, tenantID); err != nil {
			return err
		}
		var err error
		k, plain, err = s.insertAPIKey(ctx, tx, tenantID, name)
		return err
	})
	if err != nil {
		return watan.APIKey{}, "", err
	}
	return k, plain, nil
}

func (s *Store) insertAPIKey(ctx context.Context, tx *sql.Tx, tenantID int64, name string) (watan.APIKey, string, error) {
	plain := newAPIKey()
	// The prefix shown in lists is wtn_ and 8 of the 52 random characters: 40 of the
	// 256 bits. The other 216 still make the stored hash as hard to invert or guess.
	k := watan.APIKey{TenantID: tenantID, Name: name, Prefix: plain[:apiKeyShownPart], CreatedAt: s.now()}
	err := tx.QueryRowContext(ctx, `INSERT INTO api_keys (tenant_id, name, prefix, hash, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		tenantID, name, k.Prefix, hashAPIKey(plain), s.ts(k.CreatedAt)).Scan(&k.ID)
	if err != nil {
		return watan.APIKey{}, "", fmt.Errorf("store: create api key: %w", err)
	}
	return k, plain, nil
}

// ListAPIKeys returns the tenant's keys, revoked ones included, in creation order.
// An unknown tenant has no keys.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID int64) ([]watan.APIKey, error) {
	return list(ctx, s.db, "list api keys", scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY id`, tenantID)
}

// ListAPIKeysPage implements watan.TenantService: pages are keyed on the key's id.
func (s *Store) ListAPIKeysPage(ctx context.Context, tenantID int64, limit int, cursor string) ([]watan.APIKey, string, error) {
	size := pageSize(limit, MaxPage)
	var after int64
	if cursor != "" {
		var err error
		if after, err = decodeIDCursor("key", cursor); err != nil {
			return nil, "", err
		}
	}
	ks, err := list(ctx, s.db, "list api keys", scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	ks, next := cutPage(ks, size, "key", func(k watan.APIKey) string { return idKey(k.ID) })
	return ks, next, nil
}

// RevokeAPIKey revokes the tenant's key id: the next request with it through this
// Store fails, and on other nodes the first after their cache of it expires (see
// Config.APIKeyCacheTTL). A key that is already revoked keeps its first revocation
// time.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, id int64) (watan.APIKey, error) {
	var k watan.APIKey
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		k, _, err = s.revokeAPIKey(ctx, tx, tenantID, id)
		return err
	})
	s.keys.drop(id)
	if err != nil {
		return watan.APIKey{}, err
	}
	return k, nil
}

// RotateAPIKey replaces the tenant's key id with a new one of the same name in one
// transaction: the old key stops working exactly when the new one exists. The
// revocation goes first and only succeeds on a key that is not yet revoked, so of
// two concurrent rotations of one key (or a rotation racing a revocation) only one
// creates a key; the other gets ECodeConflict.
func (s *Store) RotateAPIKey(ctx context.Context, tenantID, id int64) (watan.APIKey, string, error) {
	var (
		k     watan.APIKey
		plain string
	)
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		old, revoked, err := s.revokeAPIKey(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		if !revoked {
			return watan.Errorf(watan.ECodeConflict, "API key %d is revoked; a revoked key cannot be rotated, create a new one", id)
		}
		k, plain, err = s.insertAPIKey(ctx, tx, tenantID, old.Name)
		return err
	})
	s.keys.drop(id)
	if err != nil {
		return watan.APIKey{}, "", err
	}
	return k, plain, nil
}

// revokeAPIKey sets revoked_at on the tenant's key id if it is not set, and returns
// the key and whether this call revoked it.
func (s *Store) revokeAPIKey(ctx context.Context, tx *sql.Tx, tenantID, id int64) (watan.APIKey, bool, error) {
	k, err := scanAPIKey(tx.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = $1
		WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL RETURNING `+apiKeyColumns,
		s.ts(s.now()), tenantID, id))
	if err == nil {
		return k, true, nil
	}
	if !isNoRows(err) {
		return watan.APIKey{}, false, fmt.Errorf("store: revoke api key: %w", err)
	}
	// Either no such key for this tenant, or one that is already revoked.
	k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if isNoRows(err) {
		return watan.APIKey{}, false, errNotFound("API key", id)
	}
	if err != nil {
		return watan.APIKey{}, false, fmt.Errorf("store: find api key: %w", err)
	}
	return k, false, nil
}

// AuthenticateAPIKey returns the record of the key plain if it is not revoked, or an
// ECodeUnauthorized error that does not say why. With Config.APIKeyCacheTTL it
// answers from memory for a key it accepted less than that long ago, unless the
// key was revoked or rotated through this Store since; otherwise, and always for a
// key it refuses, it reads the row.
//
// It records the use in last_used_at only when the stored time is at least
// watan.APIKeyLastUsedResolution old, with one conditional UPDATE; every other call
// only reads, or not even that.
func (s *Store) AuthenticateAPIKey(ctx context.Context, plain string) (watan.APIKey, error) {
	unauthorized := watan.Errorf(watan.ECodeUnauthorized, "invalid API key")
	if len(plain) != apiKeyLen || !strings.HasPrefix(plain, apiKeyPrefix) {
		return watan.APIKey{}, unauthorized
	}
	hash := hashAPIKey(plain)
	now := s.now()
	cutoff := now.Add(-watan.APIKeyLastUsedResolution)
	cached, ok, gen := s.keys.get(hash, now)
	if ok && cached.LastUsedAt != nil && cached.LastUsedAt.After(cutoff) {
		return cached, nil
	}
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`,
		hash))
	if isNoRows(err) {
		return watan.APIKey{}, unauthorized
	}
	if err != nil {
		return watan.APIKey{}, fmt.Errorf("store: authenticate api key: %w", err)
	}
	defer func() { s.keys.put(hash, k, now, gen) }()
	if k.LastUsedAt != nil && k.LastUsedAt.After(cutoff) {
		return k, nil
	}
	// The condition is repeated in the UPDATE so that requests racing on the same
	// key, on any node, write once between them, and so that a node whose clock is
	// behind never moves the time backwards.
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1
		WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`, s.ts(now), k.ID, s.ts(cutoff))
	if err != nil {
		// The key is valid; failing the request over a bookkeeping write would turn a
		// read-only moment of the database into an outage of every client. The next
		// request tries again.
		s.logger.WarnContext(ctx, "recording api key use", "key", k.ID, "err", err)
		return k, nil
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		k.LastUsedAt = &now
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
