package store_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestUsersAndSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		ctx := context.Background()
		st := open(t)
		a, err := st.CreateTenant(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.CreateTenant(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		u, err := st.CreateUser(ctx, a.ID, "sara", "correct horse", "")
		if err != nil {
			t.Fatal(err)
		}
		if u.Lang != "en" {
			t.Errorf("lang %q, want en", u.Lang)
		}
		if _, err := st.CreateUser(ctx, a.ID, "sara", "another one", "en"); watan.ErrorCode(err) != watan.ECodeConflict {
			t.Errorf("duplicate user: %v", err)
		}
		if _, err := st.CreateUser(ctx, a.ID, "x", "short", "en"); watan.ErrorCode(err) != watan.ECodeValidation {
			t.Errorf("short password: %v", err)
		}
		var hash string
		if err := st.DB().QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil || hash == "correct horse" {
			t.Fatalf("password stored as %q (%v)", hash, err)
		}
		for _, c := range []struct {
			tenant     int64
			name, pass string
		}{{a.ID, "sara", "wrong password"}, {b.ID, "sara", "correct horse"}, {a.ID, "nobody", "correct horse"}} {
			if _, err := st.AuthenticateUser(ctx, c.tenant, c.name, c.pass); watan.ErrorCode(err) != watan.ECodeUnauthorized {
				t.Errorf("authenticate %v: %v", c, err)
			}
		}
		got, err := st.AuthenticateUser(ctx, a.ID, "sara", "correct horse")
		if err != nil || got.ID != u.ID {
			t.Fatalf("authenticate: %+v %v", got, err)
		}
		sess, err := st.CreateSession(ctx, got, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM user_sessions WHERE token_hash = $1`, sess.Token).Scan(&n); err != nil || n != 0 {
			t.Errorf("session token stored in clear (%d, %v)", n, err)
		}
		found, err := st.FindSession(ctx, sess.Token)
		if err != nil || found.User.ID != u.ID || found.CSRF != sess.CSRF || found.User.TenantID != a.ID {
			t.Fatalf("find session: %+v %v", found, err)
		}
		if err := st.SetUserLang(ctx, a.ID, u.ID, "ar"); err != nil {
			t.Fatal(err)
		}
		if err := st.SetUserLang(ctx, b.ID, u.ID, "en"); !watan.IsNotFound(err) {
			t.Errorf("set lang across tenants: %v", err)
		}
		if found, _ := st.FindSession(ctx, sess.Token); found.User.Lang != "ar" {
			t.Errorf("lang after change %q", found.User.Lang)
		}
		if err := st.DeleteSession(ctx, sess.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FindSession(ctx, sess.Token); watan.ErrorCode(err) != watan.ECodeUnauthorized {
			t.Errorf("deleted session: %v", err)
		}
		expired, err := st.CreateSession(ctx, got, -time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.FindSession(ctx, expired.Token); watan.ErrorCode(err) != watan.ECodeUnauthorized {
			t.Errorf("expired session: %v", err)
		}
	})
}

func TestOverview(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		ctx := context.Background()
		st := open(t)
		tn, err := st.CreateTenant(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateAccount(ctx, tn.ID, watan.NewAccount{Code: "c1", Name: "C", Currency: "TRY", OverdraftLimit: 1000_00}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreatePackage(ctx, watan.Package{TenantID: tn.ID, Code: "p", Name: "p", Price: 1_00, Currency: "TRY", Active: true,
			Routing: watan.Routing{Mode: watan.RouteManual}}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, _, err := st.CreateOrder(ctx, watan.NewOrder{TenantID: tn.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "1", ClientOrderID: string(rune('a' + i))}); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC()
		ov, err := st.Overview(ctx, tn.ID, now.Add(time.Minute), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if ov.Counts[watan.StatusPending] != 3 || ov.PerMinute[58]+ov.PerMinute[59] != 3 || ov.StalePending != 3 || len(ov.Stale) != 3 {
			t.Errorf("overview %+v", ov)
		}
		ov, err = st.Overview(ctx, tn.ID, now, time.Hour, 10)
		if err != nil || ov.StalePending != 0 || len(ov.Stale) != 0 {
			t.Errorf("overview with threshold: %+v %v", ov, err)
		}
		other, _ := st.CreateTenant(ctx, "b")
		if ov, err := st.Overview(ctx, other.ID, now, 0, 10); err != nil || len(ov.Counts) != 0 {
			t.Errorf("other tenant's overview: %+v %v", ov, err)
		}
		m, err := st.PendingByProvider(ctx, tn.ID)
		if err != nil || len(m) != 0 {
			t.Errorf("pending by provider %v %v", m, err)
		}
	})
}

// Roles, and disabling: a disabled user's sessions end and they cannot sign in
// (refused as a wrong password would be) until enabled again; a new password
// ends the sessions too.
func TestUserRolesAndDisabling(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		admin, err := b.s.CreateUserWithRole(b.ctx, b.tenant.ID, "amal", "password1", "ar", store.RoleAdmin, bcrypt.MinCost)
		if err != nil || !admin.IsAdmin() {
			t.Fatalf("create admin: %+v %v", admin, err)
		}
		op, err := b.s.CreateUserWithRole(b.ctx, b.tenant.ID, "omar", "password1", "en", "", bcrypt.MinCost)
		if err != nil || op.Role != store.RoleOperator || op.IsAdmin() {
			t.Fatalf("create operator: %+v %v", op, err)
		}
		if _, err := b.s.CreateUserWithRole(b.ctx, b.tenant.ID, "x", "password1", "en", "root", bcrypt.MinCost); watan.ErrorCode(err) != watan.ECodeValidation {
			t.Errorf("unknown role: %v", err)
		}
		sess, err := b.s.CreateSession(b.ctx, op, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := b.s.FindSession(b.ctx, sess.Token); err != nil || got.User.Role != store.RoleOperator {
			t.Fatalf("session: %+v %v", got, err)
		}
		if err := b.s.SetUserDisabled(b.ctx, b.tenant.ID, op.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.FindSession(b.ctx, sess.Token); watan.ErrorCode(err) != watan.ECodeUnauthorized {
			t.Errorf("disabled user's session still works: %v", err)
		}
		if _, err := b.s.AuthenticateUser(b.ctx, b.tenant.ID, "omar", "password1"); watan.ErrorCode(err) != watan.ECodeUnauthorized {
			t.Errorf("disabled user signs in: %v", err)
		}
		us, err := b.s.ListUsers(b.ctx, b.tenant.ID)
		if err != nil || len(us) != 2 || us[1].Name != "omar" || us[1].DisabledAt == nil || us[0].DisabledAt != nil {
			t.Errorf("list: %+v %v", us, err)
		}
		other := b.newTenant(t, "other")
		if err := b.s.SetUserDisabled(b.ctx, other.ID, admin.ID, true); !watan.IsNotFound(err) {
			t.Errorf("disable another tenant's user: %v", err)
		}
		if err := b.s.SetUserDisabled(b.ctx, b.tenant.ID, op.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.AuthenticateUser(b.ctx, b.tenant.ID, "omar", "password1"); err != nil {
			t.Errorf("enabled user cannot sign in: %v", err)
		}
		sess, _ = b.s.CreateSession(b.ctx, admin, time.Hour)
		if err := b.s.SetUserPassword(b.ctx, b.tenant.ID, admin.ID, "password2"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.FindSession(b.ctx, sess.Token); watan.ErrorCode(err) != watan.ECodeUnauthorized {
			t.Errorf("session outlived a new password: %v", err)
		}
		if u, err := b.s.FindUserByName(b.ctx, b.tenant.ID, "amal"); err != nil || u.ID != admin.ID {
			t.Errorf("find by name: %+v %v", u, err)
		}
	})
}
