package engine

import (
	"context"
	"sync"
	"time"

	"watan"
)

// catalogCache keeps packages, provider accounts and mappings for a moment: every
// dispatch and check reads them, and they change rarely. Pauses and resumes made
// through this engine drop the account at once; changes made elsewhere (the API of
// another node, an operator editing a package) are seen within the TTL, or at once
// where the database announces them (CatalogChanged, PostgreSQL).
type catalogCache struct {
	store Store
	ttl   time.Duration
	now   func() time.Time

	mu       sync.Mutex
	gen      uint64 // bumped by forgetAll, so a load that began before it is not kept
	packages map[pkgKey]entry[watan.Package]
	accounts map[acctKey]entry[watan.ProviderAccount]
	mappings map[mapKey]entry[watan.Mapping]
}

type (
	pkgKey struct {
		tenant int64
		code   string
	}
	acctKey struct{ tenant, id int64 }
	mapKey  struct{ tenant, pkg, acct int64 }
)

type entry[T any] struct {
	v       T
	err     error
	expires time.Time
}

func newCatalogCache(s Store, ttl time.Duration) *catalogCache {
	return &catalogCache{
		store: s, ttl: ttl, now: time.Now,
		packages: map[pkgKey]entry[watan.Package]{},
		accounts: map[acctKey]entry[watan.ProviderAccount]{},
		mappings: map[mapKey]entry[watan.Mapping]{},
	}
}

// cached returns m[k] if fresh, else loads it. Not-found answers are cached too, so a
// missing mapping does not cost a query per order; other errors are not.
func cached[K comparable, T any](c *catalogCache, m map[K]entry[T], k K, load func() (T, error)) (T, error) {
	if c.ttl <= 0 {
		return load()
	}
	now := c.now()
	c.mu.Lock()
	e, ok := m[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, e.err
	}
	v, err := load()
	if err == nil || watan.IsNotFound(err) {
		c.mu.Lock()
		if c.gen == gen {
			m[k] = entry[T]{v: v, err: err, expires: now.Add(c.ttl)}
		}
		c.mu.Unlock()
	}
	return v, err
}

func (c *catalogCache) pkg(ctx context.Context, tenantID int64, code string) (watan.Package, error) {
	return cached(c, c.packages, pkgKey{tenantID, code}, func() (watan.Package, error) {
		return c.store.FindPackage(ctx, tenantID, code)
	})
}

func (c *catalogCache) account(ctx context.Context, tenantID, id int64) (watan.ProviderAccount, error) {
	return cached(c, c.accounts, acctKey{tenantID, id}, func() (watan.ProviderAccount, error) {
		return c.store.FindProviderAccount(ctx, tenantID, id)
	})
}

func (c *catalogCache) mapping(ctx context.Context, tenantID, packageID, acctID int64) (watan.Mapping, error) {
	return cached(c, c.mappings, mapKey{tenantID, packageID, acctID}, func() (watan.Mapping, error) {
		return c.store.FindMapping(ctx, tenantID, packageID, acctID)
	})
}

// forgetAll drops everything: the catalog changed somewhere (another node).
func (c *catalogCache) forgetAll() {
	c.mu.Lock()
	c.gen++
	clear(c.packages)
	clear(c.accounts)
	clear(c.mappings)
	c.mu.Unlock()
}

// forgetAccount drops an account after this engine changed it.
func (c *catalogCache) forgetAccount(tenantID, id int64) {
	c.mu.Lock()
	delete(c.accounts, acctKey{tenantID, id})
	c.mu.Unlock()
}
