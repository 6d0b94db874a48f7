package store_test

import (
	"strings"
	"testing"
	"time"

	"watan"
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
		got, err := b.s.AuthenticateAPIKey(b.ctx, plain)
		if err != nil || got != k {
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
