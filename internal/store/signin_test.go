package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"watan"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

const signInPassword = "correct horse"

// signInWorld is a store on a manual clock with two tenants, each with an operator
// created at bcrypt's cheapest cost, since these tests sign in many times.
type signInWorld struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	clock *providertest.ManualClock
	a, b  watan.Tenant
}

func newSignInWorld(t *testing.T, e store.Engine) *signInWorld {
	t.Helper()
	w := &signInWorld{t: t, ctx: context.Background(), clock: providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))}
	w.st = storetest.OpenWith(t, storetest.Options{Engine: e, Clock: w.clock})
	w.a, w.b = w.tenant("a"), w.tenant("b")
	w.user(w.a, "sara")
	w.user(w.b, "omar")
	return w
}

func (w *signInWorld) tenant(name string) watan.Tenant {
	w.t.Helper()
	tn, err := w.st.CreateTenant(w.ctx, name)
	if err != nil {
		w.t.Fatal(err)
	}
	return tn
}

func (w *signInWorld) user(tn watan.Tenant, name string) {
	w.t.Helper()
	if _, err := w.st.CreateUserWithCost(w.ctx, tn.ID, name, signInPassword, "en", bcrypt.MinCost); err != nil {
		w.t.Fatal(err)
	}
}

// try is one attempt; it returns the error as is.
func (w *signInWorld) try(tn watan.Tenant, name, password, addr string) error {
	_, err := w.st.SignIn(w.ctx, store.SignInAttempt{TenantID: tn.ID, Name: name, Password: password, Address: addr})
	return err
}

// throttled returns the attempt's refusal, failing the test if it was not refused.
func (w *signInWorld) throttled(err error) *store.ThrottledError {
	w.t.Helper()
	te, ok := errors.AsType[*store.ThrottledError](err)
	if !ok {
		w.t.Fatalf("attempt not throttled: %v", err)
	}
	if watan.ErrorCode(err) != watan.ECodeRateLimited {
		w.t.Errorf("throttled attempt has code %q", watan.ErrorCode(err))
	}
	return te
}

// unauthorized fails the test unless err is a plain refusal of the password.
func (w *signInWorld) unauthorized(err error) {
	w.t.Helper()
	if watan.ErrorCode(err) != watan.ECodeUnauthorized {
		w.t.Fatalf("want a wrong-password refusal, got %v", err)
	}
}

// fail makes n wrong attempts, waiting out each delay on the clock as a patient
// attacker would.
func (w *signInWorld) fail(n int, tn watan.Tenant, name, addr string) {
	w.t.Helper()
	for range n {
		err := w.try(tn, name, "wrong password", addr)
		if te, ok := errors.AsType[*store.ThrottledError](err); ok {
			w.clock.Advance(te.Wait)
			err = w.try(tn, name, "wrong password", addr)
		}
		w.unauthorized(err)
	}
}

func (w *signInWorld) events(tn watan.Tenant) []store.SignInEvent {
	w.t.Helper()
	evs, err := w.st.SignInEvents(w.ctx, tn.ID, 100)
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// TestSignInDelay: the first failures are free, then each attempt waits a delay
// that doubles with each failure, refused without its password being looked at.
func TestSignInDelay(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		w := newSignInWorld(t, e)
		const addr = "192.0.2.1"
		for range store.SignInDelayAfter {
			w.unauthorized(w.try(w.a, "sara", "wrong password", addr))
		}
		// Even the right password waits.
		te := w.throttled(w.try(w.a, "sara", signInPassword, addr))
		if te.Wait != time.Second || te.Locked {
			t.Errorf("after %d failures: wait %v locked %v, want 1s", store.SignInDelayAfter, te.Wait, te.Locked)
		}
		w.clock.Advance(999 * time.Millisecond)
		if te := w.throttled(w.try(w.a, "sara", signInPassword, addr)); te.Wait != time.Millisecond || store.WaitSeconds(te.Wait) != 1 {
			t.Errorf("a millisecond early: wait %v (%d s)", te.Wait, store.WaitSeconds(te.Wait))
		}
		w.clock.Advance(time.Millisecond)
		w.unauthorized(w.try(w.a, "sara", "wrong password", addr))
		for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute} {
			te := w.throttled(w.try(w.a, "sara", "wrong password", addr))
			if te.Wait != want || te.Locked {
				t.Errorf("wait %v locked %v, want %v", te.Wait, te.Locked, want)
			}
			w.clock.Advance(want)
			w.unauthorized(w.try(w.a, "sara", "wrong password", addr))
		}
		// That was the last delay: the failure after it locked the name out.
		// Refused attempts are not events; each failure let through is.
		evs := w.events(w.a)
		if len(evs) != store.SignInLockAfter+1 || evs[0].Kind != store.SignInLockedOut {
			t.Errorf("%d events, newest %+v; want %d failures and a lockout", len(evs), evs[0], store.SignInLockAfter)
		}
	})
}

// TestSignInLockout: enough failures lock the name out, the right password
// included, and the lockout is an event; each failure after it locks it again.
func TestSignInLockout(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		w := newSignInWorld(t, e)
		const addr = "192.0.2.1"
		w.fail(store.SignInLockAfter, w.a, "sara", addr)
		lockedAt := w.clock.Now()
		te := w.throttled(w.try(w.a, "sara", signInPassword, addr))
		if !te.Locked || te.Wait != store.SignInLockout {
			t.Fatalf("after %d failures: wait %v locked %v, want a %v lockout", store.SignInLockAfter, te.Wait, te.Locked, store.SignInLockout)
		}
		evs := w.events(w.a)
		if len(evs) != store.SignInLockAfter+1 {
			t.Fatalf("%d events, want %d failures and a lockout", len(evs), store.SignInLockAfter)
		}
		lock := evs[0]
		if lock.Kind != store.SignInLockedOut || lock.Scope != store.ScopeUser || lock.Name != "sara" || lock.Address != addr ||
			lock.Until == nil || !lock.Until.Equal(lockedAt.Add(store.SignInLockout)) || !lock.At.Equal(lockedAt) {
			t.Errorf("newest event %+v, want the lockout until %v", lock, lockedAt.Add(store.SignInLockout))
		}
		if evs[1].Kind != store.SignInFailure {
			t.Errorf("event before the lockout %+v, want the failure that caused it", evs[1])
		}

		// The probe: thirty wrong passwords, then the right one, all refused.
		for range 30 {
			w.throttled(w.try(w.a, "sara", "wrong password", addr))
			w.clock.Advance(10 * time.Second)
		}
		if te := w.throttled(w.try(w.a, "sara", signInPassword, addr)); !te.Locked {
			t.Error("right password during the lockout: not a lockout")
		}
		// From another address too: the name is locked, not the address.
		if te := w.throttled(w.try(w.a, "sara", signInPassword, "198.51.100.7")); !te.Locked {
			t.Error("right password from another address during the lockout: not a lockout")
		}
		if n := len(w.events(w.a)); n != store.SignInLockAfter+1 {
			t.Errorf("refused attempts were recorded: %d events", n)
		}

		// After the lockout one failure locks it again at once.
		w.clock.Advance(store.SignInLockout)
		w.unauthorized(w.try(w.a, "sara", "wrong password", addr))
		if te := w.throttled(w.try(w.a, "sara", signInPassword, addr)); !te.Locked || te.Wait != store.SignInLockout {
			t.Errorf("failure after the lockout: wait %v locked %v, want a new lockout", te.Wait, te.Locked)
		}
		if evs := w.events(w.a); evs[0].Kind != store.SignInLockedOut || evs[1].Kind != store.SignInFailure {
			t.Errorf("newest events %+v %+v, want the failure and its lockout", evs[0], evs[1])
		}
		w.clock.Advance(store.SignInLockout)
		if _, err := w.st.SignIn(w.ctx, store.SignInAttempt{TenantID: w.a.ID, Name: "sara", Password: signInPassword, Address: addr}); err != nil {
			t.Fatalf("right password after the lockout: %v", err)
		}
		if ev := w.events(w.a)[0]; ev.Kind != store.SignInSuccess || ev.Name != "sara" || ev.Address != addr {
			t.Errorf("newest event %+v, want the success", ev)
		}
	})
}

// TestSignInSuccessResets: a success clears the name's failures; a quiet day does
// too.
func TestSignInSuccessResets(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		w := newSignInWorld(t, e)
		const addr = "192.0.2.1"
		w.fail(store.SignInLockAfter-1, w.a, "sara", addr)
		w.clock.Advance(time.Minute)
		u, err := w.st.SignIn(w.ctx, store.SignInAttempt{TenantID: w.a.ID, Name: " sara ", Password: signInPassword, Address: addr})
		if err != nil || u.Name != "sara" || u.TenantID != w.a.ID {
			t.Fatalf("sign in: %+v %v", u, err)
		}
		// The count starts over: the first failures are free again. (From another
		// address, since this one's count does not start over.)
		const addr2 = "192.0.2.2"
		for range store.SignInDelayAfter {
			w.unauthorized(w.try(w.a, "sara", "wrong password", addr2))
		}
		if te := w.throttled(w.try(w.a, "sara", "wrong password", addr2)); te.Wait != time.Second {
			t.Errorf("after a success and %d failures: wait %v, want 1s", store.SignInDelayAfter, te.Wait)
		}
		// Failures are forgotten after a quiet day.
		w.clock.Advance(store.SignInForget)
		for range store.SignInDelayAfter {
			w.unauthorized(w.try(w.a, "sara", "wrong password", addr2))
		}
	})
}

// TestSignInPerAddress: one address is throttled across names, unknown names and
// unknown tenants included, an IPv6 client by its /64; other addresses are not.
func TestSignInPerAddress(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		w := newSignInWorld(t, e)
		for i := range store.AddressDelayAfter {
			w.user(w.a, fmt.Sprintf("op%d", i))
		}
		// One failure for each of many names: no name reaches its threshold, the
		// address does.
		const addr = "192.0.2.1"
		for i := range store.AddressDelayAfter {
			w.unauthorized(w.try(w.a, fmt.Sprintf("op%d", i), "wrong password", addr))
		}
		if te := w.throttled(w.try(w.a, "sara", signInPassword, addr)); te.Wait != time.Second || te.Locked {
			t.Errorf("address after %d failures: wait %v locked %v", store.AddressDelayAfter, te.Wait, te.Locked)
		}
		// Another address is not held up.
		if _, err := w.st.SignIn(w.ctx, store.SignInAttempt{TenantID: w.a.ID, Name: "sara", Password: signInPassword, Address: "198.51.100.7"}); err != nil {
			t.Fatalf("sign in from another address: %v", err)
		}
		// A success does not clear the address: an attacker's own account must not
		// buy them more guesses.
		w.clock.Advance(time.Second)
		if _, err := w.st.SignIn(w.ctx, store.SignInAttempt{TenantID: w.a.ID, Name: "sara", Password: signInPassword, Address: addr}); err != nil {
			t.Fatalf("sign in after the wait: %v", err)
		}
		w.clock.Advance(time.Second)
		w.unauthorized(w.try(w.a, "op0", "wrong password", addr))
		if te := w.throttled(w.try(w.a, "op1", "wrong password", addr)); te.Wait != 2*time.Second {
			t.Errorf("address after a success and another failure: wait %v, want 2s", te.Wait)
		}
		// A quiet hour clears the address, so that a shared address's occasional
		// typos do not add up.
		// (Remembered, its count would let one attempt through after the wait
		// and hold up the next.)
		w.clock.Advance(store.AddressForget)
		w.unauthorized(w.try(w.a, "op9", "wrong password", addr))
		w.unauthorized(w.try(w.a, "op9", "wrong password", addr))

		// Attempts on unknown tenants (and names) count against the address as
		// well: here the last one tips it over. The addresses are all in one /64.
		// (Few of them, as an unknown name costs a full bcrypt comparison.)
		for i := range store.AddressDelayAfter - 1 {
			w.unauthorized(w.try(w.a, fmt.Sprintf("op%d", i), "wrong password", fmt.Sprintf("2001:db8::%x", i+1)))
		}
		nowhere := watan.Tenant{ID: w.b.ID + 1000}
		w.unauthorized(w.try(nowhere, "ghost", "wrong password", "2001:db8::abcd"))
		if te := w.throttled(w.try(w.a, "sara", signInPassword, "2001:db8::ffff")); te.Wait != time.Second {
			t.Errorf("same /64: wait %v, want 1s", te.Wait)
		}
		if _, err := w.st.SignIn(w.ctx, store.SignInAttempt{TenantID: w.a.ID, Name: "sara", Password: signInPassword, Address: "2001:db8:0:1::1"}); err != nil {
			t.Errorf("sign in from the next /64: %v", err)
		}
		// A name's throttle looks the same whether or not the user exists (the
		// ghost's first failure was the one above).
		w.fail(store.SignInDelayAfter-1, nowhere, "ghost", "203.0.113.1")
		ghost := w.throttled(w.try(nowhere, "ghost", "wrong password", "203.0.113.2"))
		w.fail(store.SignInDelayAfter, w.b, "omar", "203.0.113.3")
		known := w.throttled(w.try(w.b, "omar", "wrong password", "203.0.113.4"))
		if *ghost != *known {
			t.Errorf("a name that does not exist is throttled as %+v, one that does as %+v", ghost, known)
		}
		// Attempts on a tenant that does not exist are nobody's events.
		var n int
		if err := w.st.DB().QueryRowContext(w.ctx, `SELECT COUNT(*) FROM signin_events WHERE tenant_id NOT IN ($1, $2)`, w.a.ID, w.b.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d events of no tenant (%v)", n, err)
		}
	})
}

// TestSignInEventsByTenant: each tenant sees its own sign-ins only, newest first.
func TestSignInEventsByTenant(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		w := newSignInWorld(t, e)
		w.unauthorized(w.try(w.a, "sara", "wrong password", "192.0.2.1"))
		w.clock.Advance(time.Second)
		if err := w.try(w.a, "sara", signInPassword, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Second)
		w.unauthorized(w.try(w.b, "omar", "wrong password", "198.51.100.7"))
		w.unauthorized(w.try(w.b, "sara", signInPassword, "198.51.100.7")) // A's operator at B
		a, b := w.events(w.a), w.events(w.b)
		if len(a) != 2 || a[0].Kind != store.SignInSuccess || a[1].Kind != store.SignInFailure || !a[0].At.After(a[1].At) {
			t.Errorf("A's events %+v", a)
		}
		if len(b) != 2 {
			t.Errorf("B's events %+v", b)
		}
		for _, ev := range a {
			if ev.TenantID != w.a.ID || ev.Address != "192.0.2.1" {
				t.Errorf("A sees %+v", ev)
			}
		}
		for _, ev := range b {
			if ev.TenantID != w.b.ID || ev.Kind != store.SignInFailure || ev.Address != "198.51.100.7" {
				t.Errorf("B sees %+v", ev)
			}
		}
		if evs, err := w.st.SignInEvents(w.ctx, w.a.ID, 1); err != nil || len(evs) != 1 || evs[0].Kind != store.SignInSuccess {
			t.Errorf("limit 1: %+v %v", evs, err)
		}
	})
}

// TestSignInAcrossNodes: two stores on one database, as two nodes, with attempts on
// one name arriving at once from many addresses: exactly the free attempts get to
// the password, however the attempts interleave.
func TestSignInAcrossNodes(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		ctx := context.Background()
		clock := providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
		url := storetest.URL(t, e)
		var nodes [2]*store.Store
		for i := range nodes {
			st, err := store.Open(ctx, store.Config{URL: url, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			nodes[i] = st
		}
		tn, err := nodes[0].CreateTenant(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[0].CreateUserWithCost(ctx, tn.ID, "sara", signInPassword, "en", bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = nodes[i%2].SignIn(ctx, store.SignInAttempt{TenantID: tn.ID, Name: "sara", Password: "wrong password", Address: fmt.Sprintf("192.0.2.%d", i+1)})
			})
		}
		wg.Wait()
		var checked, refused int
		for _, err := range errs {
			switch watan.ErrorCode(err) {
			case watan.ECodeUnauthorized:
				checked++
			case watan.ECodeRateLimited:
				refused++
			default:
				t.Errorf("attempt: %v", err)
			}
		}
		if checked != store.SignInDelayAfter || refused != n-store.SignInDelayAfter {
			t.Errorf("%d attempts checked the password and %d were refused, want %d and %d", checked, refused, store.SignInDelayAfter, n-store.SignInDelayAfter)
		}
	})
}
