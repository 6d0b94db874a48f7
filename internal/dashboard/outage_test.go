package dashboard_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"watan"
	"watan/internal/dashboard"
	"watan/internal/store"
)

// outageStore fails the dashboard's reads as a store does whose database went away.
type outageStore struct {
	dashboard.Store
	down *atomic.Bool
}

func (s outageStore) err(op string) error {
	return fmt.Errorf("store: %s: %w", op, driver.ErrBadConn)
}

func (s outageStore) FindSession(ctx context.Context, token string) (store.Session, error) {
	if s.down.Load() {
		return store.Session{}, s.err("find session")
	}
	return s.Store.FindSession(ctx, token)
}

func (s outageStore) SignIn(ctx context.Context, a store.SignInAttempt) (store.User, error) {
	if s.down.Load() {
		return store.User{}, s.err("sign in")
	}
	return s.Store.SignIn(ctx, a)
}

const (
	bannerEN = "The database cannot be reached."
	bannerAR = "تعذّر الوصول إلى قاعدة البيانات."
)

// TestDatabaseOutageBanner: while the database cannot be reached, pages answer 503
// with a banner saying so, in the operator's language, instead of a 500 or a
// sign-in page; signed-in pages carry the banner hidden, for their live updates to
// show; once the database is back, nothing remains of it.
func TestDatabaseOutageBanner(t *testing.T) {
	var down atomic.Bool
	b := setup(t, store.EngineSQLite, bundleOpts{configure: func(b *bundle, cfg *dashboard.Config) {
		cfg.Store = outageStore{Store: cfg.Store, down: &down}
		cfg.DatabaseDown = func() (time.Time, bool) { return time.Now(), down.Load() }
	}})
	o := b.order(b.a, pkgManual)
	en := b.client().signIn(b.a, userA)
	ar := b.client().signIn(b.a, userA)
	ar.header.Set("Accept-Language", "ar")

	if st, body := en.get("/"); st != http.StatusOK || !strings.Contains(body, "data-db-banner hidden") {
		t.Fatalf("overview with the database up: %d, banner hidden: %v", st, strings.Contains(body, "data-db-banner hidden"))
	}

	down.Store(true)
	for _, p := range []string{"/", "/orders", fmt.Sprintf("/orders/%d", o.ID), "/providers"} {
		st, loc, body := en.do("GET", p, nil)
		if st != http.StatusServiceUnavailable || loc != "" || !strings.Contains(body, bannerEN) || strings.Contains(body, "data-db-banner hidden") {
			t.Errorf("GET %s during the outage: %d %q\n%.400s", p, st, loc, body)
		}
		if en.replied.Get("Retry-After") == "" {
			t.Errorf("GET %s during the outage: no Retry-After", p)
		}
	}
	if st, body := ar.get("/orders"); st != http.StatusServiceUnavailable || !strings.Contains(body, bannerAR) || !strings.Contains(body, `dir="rtl"`) {
		t.Errorf("Arabic browser during the outage: %d\n%.400s", st, body)
	}
	if st, _ := en.get("/live?ids=" + fmt.Sprint(o.ID)); st != http.StatusServiceUnavailable {
		t.Errorf("live updates during the outage: %d", st)
	}
	if st, _, body := en.post(fmt.Sprintf("/orders/%d/reject", o.ID), url.Values{"note": {"x"}}); st != http.StatusServiceUnavailable || !strings.Contains(body, bannerEN) {
		t.Errorf("an action during the outage: %d", st)
	}
	if got := b.get(b.a, o.ID); got.Status != watan.StatusPending {
		t.Errorf("the action went through: %s", got.Status)
	}
	// Signed out: the sign-in page needs no database and shows the banner; signing
	// in cannot work and says why.
	fresh := b.client()
	if st, body := fresh.get("/signin"); st != http.StatusOK || !strings.Contains(body, bannerEN) || strings.Contains(body, "data-db-banner hidden") {
		t.Errorf("sign-in page during the outage: %d\n%.400s", st, body)
	}
	if st, _, body := fresh.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {password}}); st != http.StatusServiceUnavailable || !strings.Contains(body, bannerEN) {
		t.Errorf("signing in during the outage: %d\n%.400s", st, body)
	}

	down.Store(false)
	if st, body := en.get("/"); st != http.StatusOK || !strings.Contains(body, "data-db-banner hidden") {
		t.Errorf("overview after the outage: %d, banner hidden: %v", st, strings.Contains(body, "data-db-banner hidden"))
	}
	if st, body := b.client().get("/signin"); st != http.StatusOK || strings.Contains(body, bannerEN) {
		t.Errorf("sign-in page after the outage: %d, banner: %v", st, strings.Contains(body, bannerEN))
	}
}
