package store

import (
	"sync"
	"time"

	"watan"
)

// apiKeyCache remembers keys AuthenticateAPIKey accepted, by hash, for a short
// time (Config.APIKeyCacheTTL), so that a busy client costs no database read per
// request. Revocations and rotations through the same Store drop a key at once;
// those made elsewhere (another node, the CLI) are honoured when its entry expires.
type apiKeyCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]apiKeyEntry
	// gen counts invalidations: an answer read from the database is kept only if
	// no invalidation happened while it was read, or a revocation racing the read
	// could be undone by it.
	gen uint64
}

type apiKeyEntry struct {
	key   watan.APIKey
	until time.Time
}

// apiKeyCacheSweep is the size above which adding an entry first drops the
// expired ones; entries are only ever for valid keys, so this is rarely reached.
const apiKeyCacheSweep = 1024

func newAPIKeyCache(ttl time.Duration) *apiKeyCache {
	if ttl <= 0 {
		return nil
	}
	return &apiKeyCache{ttl: ttl, entries: map[string]apiKeyEntry{}}
}

// get returns the key with hash if it was accepted less than the TTL before now,
// and the generation to pass to put after reading the database otherwise.
func (c *apiKeyCache) get(hash string, now time.Time) (watan.APIKey, bool, uint64) {
	if c == nil {
		return watan.APIKey{}, false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if ok && now.Before(e.until) {
		return e.key, true, c.gen
	}
	if ok {
		delete(c.entries, hash)
	}
	return watan.APIKey{}, false, c.gen
}

// put remembers k, accepted at now, unless an invalidation happened since gen.
func (c *apiKeyCache) put(hash string, k watan.APIKey, now time.Time, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= apiKeyCacheSweep {
		for h, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, h)
			}
		}
	}
	c.entries[hash] = apiKeyEntry{key: k, until: now.Add(c.ttl)}
}

// drop forgets the key with id, and any answer being read meanwhile.
func (c *apiKeyCache) drop(id int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, e := range c.entries {
		if e.key.ID == id {
			delete(c.entries, h)
		}
	}
}
