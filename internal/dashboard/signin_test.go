package dashboard_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"watan/internal/dashboard"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestSignInThrottle drives the sign-in form past the throttle's thresholds on a
// manual clock: the refusals say how long to wait, in the browser's language; a
// lockout refuses the right password and shows on the tenant's security page, and
// only there.
func TestSignInThrottle(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		clock := providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
		b := setup(t, e, bundleOpts{clock: clock, configure: func(_ *bundle, cfg *dashboard.Config) { cfg.ClientAddress = clientFromHeader }})
		form := func(tenant int64, name, pw string) url.Values {
			return url.Values{"tenant": {fmt.Sprint(tenant)}, "name": {name}, "password": {pw}}
		}
		const (
			waitSecond = "Too many attempts; try again in 1 s."
			lockedOut  = "Too many attempts; try again in 15 min."
		)

		c := b.clientAt("192.0.2.1")
		c.get("/signin")
		for range store.SignInDelayAfter {
			if st, _, body := c.post("/signin", form(b.a.ID, userA, "wrong password")); st != http.StatusUnauthorized || !strings.Contains(body, "Wrong tenant, name or password.") {
				t.Fatalf("wrong password: %d", st)
			}
		}
		// The right password, too early, is refused with the wait.
		st, _, body := c.post("/signin", form(b.a.ID, userA, password))
		if st != http.StatusTooManyRequests || !strings.Contains(body, waitSecond) || c.replied.Get("Retry-After") != "1" {
			t.Errorf("too early: %d Retry-After %q\n%s", st, c.replied.Get("Retry-After"), body)
		}
		if st, _ := c.get("/"); st != http.StatusSeeOther {
			t.Errorf("a refused sign-in left a session: %d", st)
		}
		// In Arabic for an Arabic browser, whatever its address: the name waits.
		ar := b.clientAt("192.0.2.2")
		ar.header.Set("Accept-Language", "ar")
		ar.get("/signin")
		st, _, body = ar.post("/signin", form(b.a.ID, userA, password))
		if st != http.StatusTooManyRequests || !strings.Contains(body, "محاولات كثيرة جدًا؛ حاول مجددًا بعد ثانية واحدة.") || !strings.Contains(body, `dir="rtl"`) {
			t.Errorf("too early in Arabic: %d\n%s", st, body)
		}
		// Waiting as told is enough.
		clock.Advance(time.Second)
		if st, loc, _ := c.post("/signin", form(b.a.ID, userA, password)); st != http.StatusSeeOther || loc != "/" {
			t.Fatalf("sign in after the wait: %d %q", st, loc)
		}

		// Failures enough for a lockout, waiting out each delay: then the right
		// password is refused until the lockout ends, thirty wrong ones or not.
		lk := b.clientAt("192.0.2.3")
		lk.get("/signin")
		for failed := 0; failed < store.SignInLockAfter; {
			switch st, _, body := lk.post("/signin", form(b.a.ID, userA, "wrong password")); st {
			case http.StatusTooManyRequests:
				secs, err := strconv.Atoi(lk.replied.Get("Retry-After"))
				if err != nil || secs < 1 {
					t.Fatalf("Retry-After %q", lk.replied.Get("Retry-After"))
				}
				clock.Advance(time.Duration(secs) * time.Second)
			case http.StatusUnauthorized:
				failed++
			default:
				t.Fatalf("failure %d: %d\n%s", failed, st, body)
			}
		}
		for range 30 {
			if st, _, _ := lk.post("/signin", form(b.a.ID, userA, "wrong password")); st != http.StatusTooManyRequests {
				t.Fatalf("wrong password during the lockout: %d", st)
			}
		}
		st, _, body = lk.post("/signin", form(b.a.ID, userA, password))
		if st != http.StatusTooManyRequests || !strings.Contains(body, lockedOut) || lk.replied.Get("Retry-After") != "900" {
			t.Errorf("right password during the lockout: %d Retry-After %q\n%s", st, lk.replied.Get("Retry-After"), body)
		}
		if _, _, body := ar.post("/signin", form(b.a.ID, userA, password)); !strings.Contains(body, "حاول مجددًا بعد 15 دقيقة.") {
			t.Errorf("lockout in Arabic:\n%s", body)
		}

		// The security page of A lists the lockout first, then the sign-in; B's
		// shows B's sign-in only.
		st, body = c.get("/security")
		lockAt, okAt := strings.Index(body, `data-kind="lockout"`), strings.Index(body, `data-kind="success"`)
		if st != http.StatusOK || lockAt < 0 || okAt < lockAt || !strings.Contains(body, "the name, until") ||
			!strings.Contains(body, "192.0.2.3") || !strings.Contains(body, "192.0.2.1") || !strings.Contains(body, `aria-current="page">Security<`) {
			t.Errorf("A's security page: %d\n%s", st, body)
		}
		if n := strings.Count(body, `data-kind="failure"`); n != store.SignInDelayAfter+store.SignInLockAfter {
			t.Errorf("A's security page lists %d failures", n)
		}
		other := b.clientAt("203.0.113.5").signIn(b.b, userB)
		_, body = other.get("/security")
		if strings.Count(body, "data-kind=") != 1 || !strings.Contains(body, "203.0.113.5") || strings.Contains(body, "192.0.2.") || strings.Contains(body, userA) {
			t.Errorf("B's security page:\n%s", body)
		}
	})
}

// TestSignInThrottlePerAddress: one address trying many names is throttled, and a
// name that does not exist (or a tenant that does not) gets the same answer as one
// that does.
func TestSignInThrottlePerAddress(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		clock := providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
		b := setup(t, e, bundleOpts{clock: clock, configure: func(_ *bundle, cfg *dashboard.Config) { cfg.ClientAddress = clientFromHeader }})
		for i := range store.AddressDelayAfter {
			_, err := b.st.CreateUserWithCost(b.ctx, b.a.ID, fmt.Sprintf("op%d", i), password, "en", bcrypt.MinCost)
			b.must(err)
		}
		c := b.clientAt("198.51.100.1")
		c.get("/signin")
		for i := range store.AddressDelayAfter {
			if st, _, _ := c.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {fmt.Sprintf("op%d", i)}, "password": {"wrong password"}}); st != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i, st)
			}
		}
		for _, f := range []url.Values{
			{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {password}},
			{"tenant": {fmt.Sprint(b.a.ID)}, "name": {"nobody"}, "password": {password}},
			{"tenant": {"999999"}, "name": {userA}, "password": {password}},
		} {
			st, _, body := c.post("/signin", f)
			if st != http.StatusTooManyRequests || !strings.Contains(body, `<p class="error" role="alert">Too many attempts; try again in 1 s.</p>`) {
				t.Errorf("%v from a throttled address: %d\n%s", f, st, body)
			}
		}
		// Another address signs in.
		b.clientAt("198.51.100.2").signIn(b.a, userA)
	})
}
