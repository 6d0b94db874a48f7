package store

import (
	"testing"
	"time"

	"watan"
)

// TestAPIKeyCacheRace: an answer read from the database while the key was being
// revoked through the same Store must not be remembered, or it would let the
// revoked key in for another TTL.
func TestAPIKeyCacheRace(t *testing.T) {
	c := newAPIKeyCache(time.Second)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	k := watan.APIKey{ID: 7, TenantID: 1}
	if _, ok, _ := c.get("h", now); ok {
		t.Fatal("empty cache answered")
	}
	_, _, gen := c.get("h", now) // a request misses and reads the row...
	c.drop(7)                    // ...while the key is revoked...
	c.put("h", k, now, gen)      // ...and its answer comes back valid
	if _, ok, _ := c.get("h", now); ok {
		t.Error("an answer read across a revocation was remembered")
	}

	_, _, gen = c.get("h", now)
	c.put("h", k, now, gen)
	if got, ok, _ := c.get("h", now.Add(999*time.Millisecond)); !ok || got.ID != 7 {
		t.Errorf("get within the TTL = %+v, %v", got, ok)
	}
	if _, ok, _ := c.get("h", now.Add(time.Second)); ok {
		t.Error("get at the TTL answered")
	}
	var off *apiKeyCache // no TTL: no cache, every method a no-op
	off.put("h", k, now, 0)
	off.drop(7)
	if _, ok, _ := off.get("h", now); ok || newAPIKeyCache(0) != nil {
		t.Error("a cache without TTL answered")
	}
}
