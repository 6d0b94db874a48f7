package store_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestTenants(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if !b.tenant.CreatedAt.Equal(b.clock.Now().Truncate(time.Microsecond)) {
			t.Errorf("CreatedAt = %v, want the clock's time truncated to µs", b.tenant.CreatedAt)
		}
		got, err := b.s.FindTenant(b.ctx, b.tenant.ID)
		if err != nil || got != b.tenant {
			t.Fatalf("FindTenant = %+v, %v; want %+v", got, err, b.tenant)
		}
		other := b.newTenant(t, "other shop")
		ts, err := b.s.ListTenants(b.ctx)
		if err != nil || len(ts) != 2 || ts[0] != b.tenant || ts[1] != other {
			t.Fatalf("ListTenants = %+v, %v", ts, err)
		}

		_, err = b.s.CreateTenant(b.ctx, "shop")
		wantCode(t, err, watan.ECodeConflict)
		_, err = b.s.CreateTenant(b.ctx, "")
		wantCode(t, err, watan.ECodeValidation)
		_, err = b.s.CreateTenant(b.ctx, strings.Repeat("x", watan.MaxNameLen+1))
		wantCode(t, err, watan.ECodeValidation)
		_, err = b.s.FindTenant(b.ctx, 999999)
		wantCode(t, err, watan.ECodeNotFound)
	})
}

func TestAPIKeys(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		k, plain, err := b.s.CreateAPIKey(b.ctx, b.tenant.ID, "storefront")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, "wtn_") || len(plain) != 56 || !strings.HasPrefix(plain, k.Prefix) || len(k.Prefix) < 8 {
			t.Errorf("key %q with prefix %q: want wtn_ and 52 characters, prefix its start", plain, k.Prefix)
		}
		if k.TenantID != b.tenant.ID || k.Name != "storefront" || k.ID == 0 {
			t.Errorf("key record = %+v", k)
		}
		if k.LastUsedAt != nil || k.RevokedAt != nil {
			t.Errorf("new key: last used %v, revoked %v; want neither", k.LastUsedAt, k.RevokedAt)
		}
		got, err := b.s.AuthenticateAPIKey(b.ctx, plain)
		if err != nil || !sameKey(got, k) {
			t.Fatalf("AuthenticateAPIKey = %+v, %v; want %+v", got, err, k)
		}
		_, plain2, err := b.s.CreateAPIKey(b.ctx, b.tenant.ID, "")
		if err != nil || plain2 == plain {
			t.Fatalf("second key = %q, %v", plain2, err)
		}

		// The plain key is not stored: only its hash is.
		var n int
		if err := b.s.DB().QueryRowContext(b.ctx, `SELECT COUNT(*) FROM api_keys WHERE hash = $1 OR prefix = $1`, plain).Scan(&n); err != nil || n != 0 {
			t.Errorf("plain key found in api_keys (%d rows, %v)", n, err)
		}

		wrong := plain[:len(plain)-1] + map[bool]string{true: "b", false: "a"}[plain[len(plain)-1] == 'a']
		for _, bad := range []string{"", "wtn_", "Bearer " + plain, wrong, strings.ToUpper(plain)} {
			_, err := b.s.AuthenticateAPIKey(b.ctx, bad)
			wantCode(t, err, watan.ECodeUnauthorized)
		}
		_, _, err = b.s.CreateAPIKey(b.ctx, 999999, "x")
		wantCode(t, err, watan.ECodeNotFound)
	})
}

// sameKey compares what identifies a key, leaving out its use and revocation times.
func sameKey(a, b watan.APIKey) bool {
	return a.ID == b.ID && a.TenantID == b.TenantID && a.Name == b.Name && a.Prefix == b.Prefix && a.CreatedAt.Equal(b.CreatedAt)
}

func keyIDs(ks []watan.APIKey) []int64 {
	var ids []int64
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

func (b *bundle) apiKey(t *testing.T, tenantID int64, name string) (watan.APIKey, string) {
	t.Helper()
	k, plain, err := b.s.CreateAPIKey(b.ctx, tenantID, name)
	if err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", name, err)
	}
	return k, plain
}

func TestAPIKeyListAndRevoke(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		other := b.newTenant(t, "other shop")
		k1, plain1 := b.apiKey(t, b.tenant.ID, "storefront")
		k2, plain2 := b.apiKey(t, b.tenant.ID, "backoffice")
		ko, plainO := b.apiKey(t, other.ID, "storefront")

		ks, err := b.s.ListAPIKeys(b.ctx, b.tenant.ID)
		if err != nil || !slices.Equal(keyIDs(ks), []int64{k1.ID, k2.ID}) {
			t.Fatalf("ListAPIKeys = %v, %v; want keys %d, %d", keyIDs(ks), err, k1.ID, k2.ID)
		}
		if !sameKey(ks[0], k1) || ks[0].Prefix == "" || !strings.HasPrefix(plain1, ks[0].Prefix) {
			t.Errorf("listed %+v, created %+v", ks[0], k1)
		}
		if ks, err := b.s.ListAPIKeys(b.ctx, 999999); err != nil || len(ks) != 0 {
			t.Errorf("ListAPIKeys(unknown tenant) = %v, %v; want none", ks, err)
		}

		// Another tenant's key is not found, and stays valid.
		_, err = b.s.RevokeAPIKey(b.ctx, b.tenant.ID, ko.ID)
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.RevokeAPIKey(b.ctx, b.tenant.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)
		if _, err := b.s.AuthenticateAPIKey(b.ctx, plainO); err != nil {
			t.Fatalf("the other tenant's key after a foreign revoke: %v", err)
		}

		revokedAt := b.clock.Now().Truncate(time.Microsecond)
		r, err := b.s.RevokeAPIKey(b.ctx, b.tenant.ID, k1.ID)
		if err != nil || !sameKey(r, k1) || r.RevokedAt == nil || !r.RevokedAt.Equal(revokedAt) {
			t.Fatalf("RevokeAPIKey = %+v, %v; want key %d revoked at %v", r, err, k1.ID, revokedAt)
		}
		_, err = b.s.AuthenticateAPIKey(b.ctx, plain1)
		wantCode(t, err, watan.ECodeUnauthorized)
		if _, err := b.s.AuthenticateAPIKey(b.ctx, plain2); err != nil {
			t.Errorf("the tenant's other key after revoking one: %v", err)
		}

		// Revoking again changes nothing: the first time stays.
		b.clock.Advance(time.Hour)
		r2, err := b.s.RevokeAPIKey(b.ctx, b.tenant.ID, k1.ID)
		if err != nil || r2.RevokedAt == nil || !r2.RevokedAt.Equal(revokedAt) {
			t.Errorf("second RevokeAPIKey = %+v, %v; want the first revocation time %v", r2, err, revokedAt)
		}
		ks, err = b.s.ListAPIKeys(b.ctx, b.tenant.ID)
		if err != nil || len(ks) != 2 || ks[0].RevokedAt == nil || !ks[0].RevokedAt.Equal(revokedAt) || ks[1].RevokedAt != nil {
			t.Errorf("ListAPIKeys after revoking = %+v, %v", ks, err)
		}
	})
}

func TestAPIKeyRotate(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		other := b.newTenant(t, "other shop")
		old, oldPlain := b.apiKey(t, b.tenant.ID, "storefront")
		ko, _ := b.apiKey(t, other.ID, "storefront")

		_, _, err := b.s.RotateAPIKey(b.ctx, b.tenant.ID, ko.ID)
		wantCode(t, err, watan.ECodeNotFound)
		_, _, err = b.s.RotateAPIKey(b.ctx, b.tenant.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)

		b.clock.Advance(time.Second)
		k, plain, err := b.s.RotateAPIKey(b.ctx, b.tenant.ID, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.ID == old.ID || k.Name != "storefront" || k.TenantID != b.tenant.ID || plain == oldPlain || !strings.HasPrefix(plain, k.Prefix) || k.RevokedAt != nil {
			t.Errorf("rotated key %+v (%q), old %+v", k, plain, old)
		}
		if got, err := b.s.AuthenticateAPIKey(b.ctx, plain); err != nil || !sameKey(got, k) {
			t.Errorf("new key authenticates as %+v, %v", got, err)
		}
		_, err = b.s.AuthenticateAPIKey(b.ctx, oldPlain)
		wantCode(t, err, watan.ECodeUnauthorized)
		ks, err := b.s.ListAPIKeys(b.ctx, b.tenant.ID)
		if err != nil || !slices.Equal(keyIDs(ks), []int64{old.ID, k.ID}) || ks[0].RevokedAt == nil || !ks[0].RevokedAt.Equal(k.CreatedAt) {
			t.Errorf("after rotation: %+v, %v; want the old key revoked when the new one was created", ks, err)
		}

		// A revoked key cannot be rotated, and the failed rotation creates nothing.
		_, _, err = b.s.RotateAPIKey(b.ctx, b.tenant.ID, old.ID)
		wantCode(t, err, watan.ECodeConflict)
		if ks, _ := b.s.ListAPIKeys(b.ctx, b.tenant.ID); len(ks) != 2 {
			t.Errorf("a refused rotation left %d keys, want 2", len(ks))
		}
	})
}

// TestAPIKeyRotateConcurrently rotates one key from several goroutines: exactly one
// rotation wins, and the tenant ends with exactly one working key.
func TestAPIKeyRotateConcurrently(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		old, _ := b.apiKey(t, b.tenant.ID, "storefront")
		const n = 8
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			plains []string
			codes  []string
		)
		for range n {
			wg.Go(func() {
				_, plain, err := b.s.RotateAPIKey(b.ctx, b.tenant.ID, old.ID)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					plains = append(plains, plain)
				} else {
					codes = append(codes, watan.ErrorCode(err))
				}
			})
		}
		wg.Wait()
		if len(plains) != 1 {
			t.Fatalf("%d rotations succeeded, want 1 (errors %v)", len(plains), codes)
		}
		for _, c := range codes {
			if c != watan.ECodeConflict {
				t.Errorf("a losing rotation failed with %s, want %s", c, watan.ECodeConflict)
			}
		}
		ks, err := b.s.ListAPIKeys(b.ctx, b.tenant.ID)
		if err != nil || len(ks) != 2 {
			t.Fatalf("keys after concurrent rotations: %+v, %v", ks, err)
		}
		if _, err := b.s.AuthenticateAPIKey(b.ctx, plains[0]); err != nil {
			t.Errorf("the winning key: %v", err)
		}
	})
}

// TestAPIKeyLastUsed checks that authentication records the time of use, but writes
// it only when the stored one is at least APIKeyLastUsedResolution old, and never
// moves it backwards.
func TestAPIKeyLastUsed(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		k, plain := b.apiKey(t, b.tenant.ID, "storefront")
		lastUsed := func() *time.Time {
			t.Helper()
			ks, err := b.s.ListAPIKeys(b.ctx, b.tenant.ID)
			if err != nil || len(ks) != 1 {
				t.Fatalf("ListAPIKeys = %+v, %v", ks, err)
			}
			return ks[0].LastUsedAt
		}
		auth := func() watan.APIKey {
			t.Helper()
			got, err := b.s.AuthenticateAPIKey(b.ctx, plain)
			if err != nil || got.ID != k.ID {
				t.Fatalf("AuthenticateAPIKey = %+v, %v", got, err)
			}
			return got
		}
		if lu := lastUsed(); lu != nil {
			t.Fatalf("unused key has last_used_at %v", lu)
		}
		first := b.clock.Now().Truncate(time.Microsecond)
		if got := auth(); got.LastUsedAt == nil || !got.LastUsedAt.Equal(first) {
			t.Errorf("first use returns last used %v, want %v", got.LastUsedAt, first)
		}
		if lu := lastUsed(); lu == nil || !lu.Equal(first) {
			t.Fatalf("after first use: last used %v, want %v", lu, first)
		}

		// Within the resolution nothing is written: the stored time stays.
		b.clock.Advance(watan.APIKeyLastUsedResolution - time.Second)
		if got := auth(); got.LastUsedAt == nil || !got.LastUsedAt.Equal(first) {
			t.Errorf("use within a minute returns last used %v, want %v", got.LastUsedAt, first)
		}
		if lu := lastUsed(); !lu.Equal(first) {
			t.Errorf("use within a minute rewrote last used: %v, want %v", lu, first)
		}

		// Once it is a minute old, the next use records the new time.
		b.clock.Advance(time.Second)
		second := b.clock.Now().Truncate(time.Microsecond)
		auth()
		if lu := lastUsed(); !lu.Equal(second) {
			t.Errorf("use a minute later: last used %v, want %v", lu, second)
		}

		// A node whose clock is behind does not move it backwards.
		b.clock.Advance(-10 * time.Minute)
		auth()
		if lu := lastUsed(); !lu.Equal(second) {
			t.Errorf("use from a clock 10 minutes behind: last used %v, want %v", lu, second)
		}

		// A revoked key is refused and its last use is not touched.
		b.clock.Advance(time.Hour)
		if _, err := b.s.RevokeAPIKey(b.ctx, b.tenant.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err := b.s.AuthenticateAPIKey(b.ctx, plain)
		wantCode(t, err, watan.ECodeUnauthorized)
		if lu := lastUsed(); !lu.Equal(second) {
			t.Errorf("refused use of a revoked key recorded: last used %v, want %v", lu, second)
		}
	})
}

// TestAPIKeysAfterUpgrade checks that keys created before migration 8 keep working
// after it, as never used and not revoked.
func TestAPIKeysAfterUpgrade(t *testing.T) {
	const beforeLifecycle = 6 // 0007 belongs to another change and touches no api_keys column
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		t.Parallel()
		ctx := t.Context()
		s, err := store.Open(ctx, store.Config{URL: storetest.URL(t, e)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.MigrateTo(ctx, beforeLifecycle); err != nil {
			t.Fatal(err)
		}
		tn, err := s.CreateTenant(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		k, plain, err := s.CreateAPIKey(ctx, tn.ID, "storefront")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		ks, err := s.ListAPIKeys(ctx, tn.ID)
		if err != nil || len(ks) != 1 || !sameKey(ks[0], k) || ks[0].LastUsedAt != nil || ks[0].RevokedAt != nil {
			t.Fatalf("keys after the upgrade: %+v, %v; want %+v unused and not revoked", ks, err, k)
		}
		if got, err := s.AuthenticateAPIKey(ctx, plain); err != nil || got.ID != k.ID {
			t.Errorf("old key after the upgrade: %+v, %v", got, err)
		}
	})
}

// TestAPIKeyCacheAcrossNodes: two stores over one database stand for two nodes,
// each caching accepted keys for a second. A key revoked or rotated through one is
// refused by that one at once, and by the other once its entry has expired, within
// the second the API promises.
func TestAPIKeyCacheAcrossNodes(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		t.Parallel()
		ctx := t.Context()
		clock := newFakeClock()
		url := storetest.URL(t, e)
		open := func() *store.Store {
			s, err := store.Open(ctx, store.Config{URL: url, Clock: clock, APIKeyCacheTTL: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		a := open()
		if err := a.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		b := open()
		tn, err := a.CreateTenant(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		accepted := func(s *store.Store, plain string) bool {
			t.Helper()
			_, err := s.AuthenticateAPIKey(ctx, plain)
			if err != nil && watan.ErrorCode(err) != watan.ECodeUnauthorized {
				t.Fatal(err)
			}
			return err == nil
		}

		k, plain, err := a.CreateAPIKey(ctx, tn.ID, "storefront")
		if err != nil {
			t.Fatal(err)
		}
		if !accepted(a, plain) || !accepted(b, plain) {
			t.Fatal("a new key is refused")
		}
		if _, err := a.RevokeAPIKey(ctx, tn.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		if accepted(a, plain) {
			t.Error("the node that revoked the key still accepts it")
		}
		if !accepted(b, plain) {
			t.Error("the other node refused the key within its second: is it caching at all?")
		}
		clock.Advance(time.Second)
		if accepted(b, plain) {
			t.Error("the other node accepts a key revoked a second ago")
		}

		k2, plain2, err := a.CreateAPIKey(ctx, tn.ID, "storefront")
		if err != nil {
			t.Fatal(err)
		}
		if !accepted(a, plain2) || !accepted(b, plain2) {
			t.Fatal("a new key is refused")
		}
		_, plain3, err := b.RotateAPIKey(ctx, tn.ID, k2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if accepted(b, plain2) || !accepted(b, plain3) {
			t.Error("the node that rotated the key accepts the old one or refuses the new one")
		}
		clock.Advance(time.Second)
		if accepted(a, plain2) || !accepted(a, plain3) {
			t.Error("a second after the rotation the other node accepts the old key or refuses the new one")
		}

	})
}
