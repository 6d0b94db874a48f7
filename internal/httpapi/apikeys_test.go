package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// apiKey is what the tests read of a key in a response.
type apiKey struct {
	ID         int64      `json:"id"`
	TenantID   int64      `json:"tenant_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

type createdKey struct {
	APIKey apiKey `json:"api_key"`
	Key    string `json:"key"`
}

// keyEnv is an env whose store runs on a manual clock, with the clock at hand, and
// caches accepted keys as serve's does.
type keyEnv struct {
	*env
	clock *providertest.ManualClock
}

func forEachEngineWithClock(t *testing.T, fn func(t *testing.T, e keyEnv)) {
	storetest.RunEngines(t, func(t *testing.T, engine store.Engine) {
		clock := providertest.NewManualClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
		st := storetest.OpenWith(t, storetest.Options{Engine: engine, Clock: clock, APIKeyCacheTTL: store.DefaultAPIKeyCacheTTL})
		fn(t, keyEnv{env: newEnv(t, st, httpapi.Config{}), clock: clock})
	})
}

// as returns a client of the same tenant that authenticates with key.
func (c *client) as(key string) *client {
	c2 := *c
	c2.key = key
	return &c2
}

func (c *client) listKeys() []apiKey {
	c.t.Helper()
	var l struct {
		APIKeys []apiKey `json:"api_keys"`
	}
	c.call("GET", "/api/v1/api-keys", "", 200, &l)
	return l.APIKeys
}

func findKey(ks []apiKey, id int64) (apiKey, bool) {
	for _, k := range ks {
		if k.ID == id {
			return k, true
		}
	}
	return apiKey{}, false
}

func TestAPIKeyLifecycle(t *testing.T) {
	forEachEngineWithClock(t, func(t *testing.T, e keyEnv) {
		c := e.newTenant("shop")

		ks := c.listKeys()
		if len(ks) != 1 || ks[0].Name != "test" || ks[0].TenantID != c.tenant.ID || !strings.HasPrefix(c.key, ks[0].Prefix) ||
			len(ks[0].Prefix) != 12 || ks[0].RevokedAt != nil {
			t.Fatalf("initial list %+v", ks)
		}
		own := ks[0]

		// Create: the key once, working at once.
		var ck createdKey
		c.call("POST", "/api/v1/api-keys", `{"name":"backoffice"}`, 201, &ck)
		if ck.APIKey.ID == 0 || ck.APIKey.Name != "backoffice" || ck.APIKey.TenantID != c.tenant.ID ||
			!strings.HasPrefix(ck.Key, "wtn_") || !strings.HasPrefix(ck.Key, ck.APIKey.Prefix) || ck.APIKey.RevokedAt != nil {
			t.Fatalf("created %+v", ck)
		}
		back := c.as(ck.Key)
		if ks := back.listKeys(); len(ks) != 2 || ks[0].ID != own.ID || ks[1].ID != ck.APIKey.ID {
			t.Fatalf("list with the new key: %+v", ks)
		}
		wantError(t, "create without a name", c.send("POST", "/api/v1/api-keys", "", `{}`), 422, watan.ECodeValidation)
		wantError(t, "create with a blank name", c.send("POST", "/api/v1/api-keys", "", `{"name":"  "}`), 422, watan.ECodeValidation)
		wantError(t, "create with an unknown field", c.send("POST", "/api/v1/api-keys", "", `{"name":"x","scope":"all"}`), 400, watan.ECodeBadRequest)
		wantError(t, "create with a long name", c.send("POST", "/api/v1/api-keys", "", fmt.Sprintf(`{"name":%q}`, strings.Repeat("n", watan.MaxNameLen+1))), 422, watan.ECodeValidation)

		// Rotate: a new key with the same name; the old one fails on the next request.
		var rk createdKey
		c.call("POST", fmt.Sprintf("/api/v1/api-keys/%d/rotate", ck.APIKey.ID), "", 201, &rk)
		if rk.APIKey.ID == ck.APIKey.ID || rk.APIKey.Name != "backoffice" || rk.Key == ck.Key || !strings.HasPrefix(rk.Key, rk.APIKey.Prefix) {
			t.Fatalf("rotated %+v from %+v", rk, ck)
		}
		wantError(t, "the rotated-out key", back.send("GET", "/api/v1/api-keys", "", ""), 401, watan.ECodeUnauthorized)
		rotated := c.as(rk.Key)
		ks = rotated.listKeys()
		if old, _ := findKey(ks, ck.APIKey.ID); len(ks) != 3 || old.RevokedAt == nil {
			t.Fatalf("after rotation: %+v", ks)
		}
		wantError(t, "rotate a revoked key", c.send("POST", fmt.Sprintf("/api/v1/api-keys/%d/rotate", ck.APIKey.ID), "", `{}`), 409, watan.ECodeConflict)
		wantError(t, "rotate with a body", c.send("POST", fmt.Sprintf("/api/v1/api-keys/%d/rotate", rk.APIKey.ID), "", `{"name":"x"}`), 400, watan.ECodeBadRequest)

		// Revoke: answers with the key; the next request with it is 401; again is the same.
		e.clock.Advance(time.Minute)
		var revoked apiKey
		c.call("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", rk.APIKey.ID), "", 200, &revoked)
		if revoked.ID != rk.APIKey.ID || revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(e.clock.Now()) {
			t.Fatalf("revoked %+v, want revoked at %v", revoked, e.clock.Now())
		}
		wantError(t, "the revoked key", rotated.send("GET", "/api/v1/orders", "", ""), 401, watan.ECodeUnauthorized)
		e.clock.Advance(time.Minute)
		var again apiKey
		c.call("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", rk.APIKey.ID), "", 200, &again)
		if again.RevokedAt == nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
			t.Errorf("revoking again: %+v, want the first revocation time %v", again, revoked.RevokedAt)
		}
		for _, path := range []string{"/api/v1/api-keys/999999", "/api/v1/api-keys/x", "/api/v1/api-keys/0"} {
			wantError(t, "DELETE "+path, c.send("DELETE", path, "", ""), 404, watan.ECodeNotFound)
		}
		wantError(t, "rotate an unknown key", c.send("POST", "/api/v1/api-keys/999999/rotate", "", ""), 404, watan.ECodeNotFound)

		// A key may revoke itself: that request succeeds, the next one is refused.
		c.call("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", own.ID), "", 200, nil)
		wantError(t, "the self-revoked key", c.send("GET", "/api/v1/api-keys", "", ""), 401, watan.ECodeUnauthorized)

		// The plain key appears in the one response that created it, and nowhere else.
		for _, plain := range []string{ck.Key, rk.Key} {
			n := 0
			for _, b := range *c.bodies {
				n += strings.Count(b, plain)
			}
			if n != 1 {
				t.Errorf("key %s… appears in %d responses, want 1", plain[:12], n)
			}
		}
	})
}

// TestAPIKeyTenantIsolation: a tenant neither sees nor revokes nor rotates another
// tenant's keys; each attempt is 404 as for a key that does not exist.
func TestAPIKeyTenantIsolation(t *testing.T) {
	forEachEngineWithClock(t, func(t *testing.T, e keyEnv) {
		a, b := e.newTenant("shop a"), e.newTenant("shop b")
		bKeys := b.listKeys()
		if len(bKeys) != 1 {
			t.Fatalf("B's keys %+v", bKeys)
		}
		bk := bKeys[0]
		if ks := a.listKeys(); len(ks) != 1 || ks[0].ID == bk.ID || ks[0].TenantID != a.tenant.ID {
			t.Errorf("A lists %+v", ks)
		}
		wantError(t, "A revokes B's key", a.send("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", bk.ID), "", ""), 404, watan.ECodeNotFound)
		wantError(t, "A rotates B's key", a.send("POST", fmt.Sprintf("/api/v1/api-keys/%d/rotate", bk.ID), "", ""), 404, watan.ECodeNotFound)
		if ks := b.listKeys(); len(ks) != 1 || ks[0].RevokedAt != nil {
			t.Errorf("B's keys after A's attempts: %+v", ks)
		}
	})
}

// TestAPIKeyRevocationReachesEveryNode: two handlers over one database stand for two
// nodes; a key revoked through one fails on the very next request through the other,
// which had just served it.
func TestAPIKeyRevocationReachesEveryNode(t *testing.T) {
	forEachEngineWithClock(t, func(t *testing.T, e keyEnv) {
		c := e.newTenant("shop")
		var ck createdKey
		c.call("POST", "/api/v1/api-keys", `{"name":"storefront"}`, 201, &ck)
		other := newEnv(t, e.st, httpapi.Config{})
		onOther := c.as(ck.Key)
		onOther.h = other.h
		onOther.call("GET", "/api/v1/orders", "", 200, nil)
		c.call("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", ck.APIKey.ID), "", 200, nil)
		wantError(t, "revoked key on the other node", onOther.send("GET", "/api/v1/orders", "", ""), 401, watan.ECodeUnauthorized)
	})
}

// TestAPIKeyLastUsed: a request records its key's use; requests within a minute of
// the recorded time do not rewrite it; the first one after does. The clock is moved
// by hand.
func TestAPIKeyLastUsed(t *testing.T) {
	forEachEngineWithClock(t, func(t *testing.T, e keyEnv) {
		admin := e.newTenant("shop") // lists, with its own key
		var ck createdKey
		admin.call("POST", "/api/v1/api-keys", `{"name":"storefront"}`, 201, &ck)
		if ck.APIKey.LastUsedAt != nil {
			t.Fatalf("new key has last_used_at %v", ck.APIKey.LastUsedAt)
		}
		sf := admin.as(ck.Key)
		lastUsed := func() *time.Time {
			t.Helper()
			k, ok := findKey(admin.listKeys(), ck.APIKey.ID)
			if !ok {
				t.Fatalf("key %d not listed", ck.APIKey.ID)
			}
			return k.LastUsedAt
		}
		if lu := lastUsed(); lu != nil {
			t.Fatalf("unused key has last_used_at %v", lu)
		}

		e.clock.Advance(time.Second)
		first := e.clock.Now()
		sf.call("GET", "/api/v1/orders", "", 200, nil)
		if lu := lastUsed(); lu == nil || !lu.Equal(first) {
			t.Fatalf("after a request: last_used_at %v, want %v", lu, first)
		}
		e.clock.Advance(watan.APIKeyLastUsedResolution - time.Millisecond)
		sf.call("GET", "/api/v1/orders", "", 200, nil)
		if lu := lastUsed(); lu == nil || !lu.Equal(first) {
			t.Errorf("a request within a minute rewrote last_used_at: %v, want %v", lu, first)
		}
		e.clock.Advance(time.Millisecond)
		sf.call("GET", "/api/v1/orders", "", 200, nil)
		if lu := lastUsed(); lu == nil || !lu.Equal(e.clock.Now()) {
			t.Errorf("a request a minute later: last_used_at %v, want %v", lu, e.clock.Now())
		}
		// A refused request is no use.
		e.clock.Advance(time.Hour)
		last := "a"
		if strings.HasSuffix(ck.Key, last) {
			last = "b"
		}
		wantError(t, "a wrong key", sf.as(ck.Key[:len(ck.Key)-1]+last).send("GET", "/api/v1/orders", "", ""), 401, watan.ECodeUnauthorized)
		if lu := lastUsed(); lu == nil || lu.Equal(e.clock.Now()) {
			t.Errorf("a refused request recorded a use: %v", lu)
		}
	})
}
