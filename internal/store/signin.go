package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"watan"
)

// Sign-in throttling. Every attempt is counted against two keys: the name in the
// tenant (whether or not such a user exists) and the client's address. Each key
// allows a few failures freely; after that each further attempt must wait a delay
// that doubles with every failure (1 s, 2 s, 4 s … capped at a minute), and after
// more failures the key is locked out for a while, the right password included.
// A successful sign-in resets the name's count; the address's count is only
// forgotten after a quiet hour, so that an attacker holding one account cannot
// clear their address by signing in to it between guesses.
//
// The address thresholds are higher than the name's, and its count is forgotten
// sooner, because an address may be shared: an office behind one NAT, whose
// operators' occasional typos must not add up over weeks, or every client at once
// behind a reverse proxy that the dashboard is not told about (see
// dashboard.Config.ClientAddress).
const (
	// SignInDelayAfter failures of a name, the next attempt waits SignInBaseDelay,
	// doubling with each further failure.
	SignInDelayAfter = 3
	// SignInLockAfter failures of a name lock it out for SignInLockout. After the
	// lockout each failure locks it again, until a success or a quiet day.
	SignInLockAfter = 10
	// AddressDelayAfter and AddressLockAfter are the same for a client address.
	AddressDelayAfter = 10
	AddressLockAfter  = 30

	SignInBaseDelay = time.Second
	SignInMaxDelay  = time.Minute
	SignInLockout   = 15 * time.Minute
	// SignInForget and AddressForget are how long a name or an address must go
	// without an attempt before its failures are forgotten. Both are longer than
	// the lockout, or a lockout would reset the count and hand out another round
	// of free guesses.
	SignInForget  = 24 * time.Hour
	AddressForget = time.Hour
	// SignInEventRetention is how long sign-in events are kept.
	SignInEventRetention = 90 * 24 * time.Hour
)

// Sign-in event kinds.
const (
	SignInSuccess   = "success"
	SignInFailure   = "failure"
	SignInLockedOut = "lockout"
)

// Lockout scopes: what a lockout event locked.
const (
	ScopeUser    = "user"
	ScopeAddress = "address"
)

// SignInAttempt is one try at the dashboard's sign-in form.
type SignInAttempt struct {
	TenantID int64
	Name     string
	Password string
	// Address is the client's address (an IP address without port); it is
	// throttled as a key of its own and shown in the events.
	Address string
}

// SignInEvent is a sign-in to a tenant as its operators see it.
type SignInEvent struct {
	ID       int64
	TenantID int64
	Name     string // the name tried; it need not be a user's
	Address  string
	Kind     string     // SignInSuccess, SignInFailure or SignInLockedOut
	Scope    string     // for a lockout: ScopeUser or ScopeAddress
	Until    *time.Time // for a lockout: when it ends
	At       time.Time
}

// ThrottledError refuses an attempt that came too early. It unwraps to an
// ECodeRateLimited *watan.Error.
type ThrottledError struct {
	// Wait is how long until the next attempt is let through.
	Wait time.Duration
	// Locked says that the wait is a lockout rather than a delay.
	Locked bool
}

func (e *ThrottledError) Error() string { return e.Unwrap().Error() }

func (e *ThrottledError) Unwrap() error {
	return watan.Errorf(watan.ECodeRateLimited, "too many sign-in attempts; try again in %d s", WaitSeconds(e.Wait))
}

// WaitSeconds is a wait in whole seconds, rounded up, at least 1: what a client is
// told to wait (Retry-After) so that it never comes back too early.
func WaitSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// throttlePolicy is one key kind's thresholds.
type throttlePolicy struct {
	scope                 string
	delayAfter, lockAfter int
	forget                time.Duration
}

// wait is how long after now an attempt on a key with failures, the last of them at
// last, must wait, and whether that is a lockout.
func (p throttlePolicy) wait(failures int, last, now time.Time) (time.Duration, bool) {
	switch {
	case failures >= p.lockAfter:
		return max(last.Add(SignInLockout).Sub(now), 0), true
	case failures >= p.delayAfter:
		d := SignInMaxDelay
		if n := failures - p.delayAfter; n < 16 {
			d = min(SignInBaseDelay<<n, SignInMaxDelay)
		}
		return max(last.Add(d).Sub(now), 0), false
	}
	return 0, false
}

// throttleKey is one row of signin_throttle and the policy that applies to it.
type throttleKey struct {
	key    string
	policy throttlePolicy
	// claimed is the key's failure count with this attempt counted.
	claimed int
}

// userThrottleKey keys a name in a tenant. Names longer than any user's are cut,
// so that the key stays small.
func userThrottleKey(tenantID int64, name string) string {
	return "user " + strconv.FormatInt(tenantID, 10) + " " + cleanText(name, watan.MaxNameLen)
}

// maxAddressLen bounds a client address as stored: an IPv6 address with a zone is
// well within it.
const maxAddressLen = 100

// cleanText makes text from an unauthenticated client storable on both engines:
// valid UTF-8 (PostgreSQL refuses anything else), no NUL (nor does it take that),
// at most n bytes.
func cleanText(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	return truncate(s, n)
}

// addressThrottleKey keys a client address. An IPv6 client is keyed by its /64,
// the smallest block a site is usually given: keying single addresses would let it
// rotate through 2^64 of them.
func addressThrottleKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "addr " + cleanText(addr, maxAddressLen)
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr " + p.String()
	}
	return "addr " + a.String()
}

// SignIn checks a sign-in attempt against the throttle and then the password. It
// returns the user on success; a *ThrottledError (ECodeRateLimited) if the name or
// the address must wait, without looking at the password; otherwise the same
// ECodeUnauthorized error as AuthenticateUser. Attempts to a tenant that exists are
// recorded as its sign-in events.
//
// The attempt is counted as a failure before the password is checked, in a
// transaction that holds the keys' rows: concurrent attempts, on any node, are
// thus counted one after the other and cannot all slip through under the
// threshold. A success then takes it back.
func (s *Store) SignIn(ctx context.Context, a SignInAttempt) (User, error) {
	now := s.now()
	name := strings.TrimSpace(a.Name)
	keys := []*throttleKey{
		{key: userThrottleKey(a.TenantID, name), policy: throttlePolicy{ScopeUser, SignInDelayAfter, SignInLockAfter, SignInForget}},
		{key: addressThrottleKey(a.Address), policy: throttlePolicy{ScopeAddress, AddressDelayAfter, AddressLockAfter, AddressForget}},
	}
	// Always the same order, so that two attempts sharing both keys never wait for
	// each other's locks crosswise.
	sort.Slice(keys, func(i, j int) bool { return keys[i].key < keys[j].key })
	if err := s.InTx(ctx, func(tx *sql.Tx) error { return s.claimAttempt(ctx, tx, keys, now) }); err != nil {
		return User{}, err
	}

	u, authErr := s.AuthenticateUser(ctx, a.TenantID, name, a.Password)
	if authErr != nil && watan.ErrorCode(authErr) != watan.ECodeUnauthorized {
		// The attempt stays counted: better a legitimate user waits a second
		// than a failing database lets guesses through uncounted.
		return User{}, authErr
	}
	ev := SignInEvent{TenantID: a.TenantID, Name: name, Address: a.Address, Kind: SignInSuccess, At: now}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.forgetOld(ctx, tx, now); err != nil {
			return err
		}
		if authErr == nil {
			return s.signInSucceeded(ctx, tx, keys, ev)
		}
		ev.Kind = SignInFailure
		if err := s.insertSignInEvent(ctx, tx, ev); err != nil {
			return err
		}
		for _, k := range keys {
			if k.claimed < k.policy.lockAfter {
				continue
			}
			until := now.Add(SignInLockout)
			lock := SignInEvent{TenantID: a.TenantID, Name: name, Address: a.Address, Kind: SignInLockedOut,
				Scope: k.policy.scope, Until: &until, At: now}
			if err := s.insertSignInEvent(ctx, tx, lock); err != nil {
				return err
			}
			s.logger.WarnContext(ctx, "sign-in locked out", "scope", k.policy.scope, "tenant_id", a.TenantID,
				"name", name, "address", a.Address, "failures", k.claimed, "until", until)
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	if authErr != nil {
		return User{}, authErr
	}
	return u, nil
}

// claimAttempt refuses the attempt if a key must wait, and otherwise counts it as a
// failure of every key. A refused attempt writes nothing: the transaction rolls
// back, and the row inserted for a new key cannot be the reason for a refusal.
func (s *Store) claimAttempt(ctx context.Context, tx *sql.Tx, keys []*throttleKey, now time.Time) error {
	lock := ""
	if s.engine == EnginePostgres {
		lock = " FOR UPDATE"
	}
	var refused *ThrottledError
	for _, k := range keys {
		// The row must exist to be locked: on PostgreSQL two first attempts
		// would otherwise both read "no failures" and both get through.
		if _, err := tx.ExecContext(ctx, `INSERT INTO signin_throttle (throttle_key, failures, last_at) VALUES ($1, 0, $2)
			ON CONFLICT (throttle_key) DO NOTHING`, k.key, s.ts(now)); err != nil {
			return fmt.Errorf("store: sign-in throttle: %w", err)
		}
		var failures int
		var last time.Time
		if err := tx.QueryRowContext(ctx, `SELECT failures, last_at FROM signin_throttle WHERE throttle_key = $1`+lock, k.key).
			Scan(&failures, timeCol{&last}); err != nil {
			return fmt.Errorf("store: sign-in throttle: %w", err)
		}
		if now.Sub(last) >= k.policy.forget {
			failures = 0
		}
		if wait, locked := k.policy.wait(failures, last, now); wait > 0 {
			if refused == nil || wait > refused.Wait {
				refused = &ThrottledError{Wait: wait, Locked: locked}
			}
		}
		k.claimed = failures + 1
	}
	if refused != nil {
		return refused
	}
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `UPDATE signin_throttle SET failures = $1, last_at = $2 WHERE throttle_key = $3`,
			k.claimed, s.ts(now), k.key); err != nil {
			return fmt.Errorf("store: sign-in throttle: %w", err)
		}
	}
	return nil
}

// signInSucceeded resets the name's count, takes the attempt back from the
// address's, and records the success.
func (s *Store) signInSucceeded(ctx context.Context, tx *sql.Tx, keys []*throttleKey, ev SignInEvent) error {
	for _, k := range keys {
		q := `UPDATE signin_throttle SET failures = failures - 1 WHERE throttle_key = $1 AND failures > 0`
		if k.policy.scope == ScopeUser {
			q = `DELETE FROM signin_throttle WHERE throttle_key = $1`
		}
		if _, err := tx.ExecContext(ctx, q, k.key); err != nil {
			return fmt.Errorf("store: sign-in throttle: %w", err)
		}
	}
	return s.insertSignInEvent(ctx, tx, ev)
}

// forgetOld deletes throttle rows that no longer count (after the longer of the
// two forget times) and events past retention, on the way, so that neither table
// needs a job to stay small.
func (s *Store) forgetOld(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM signin_throttle WHERE last_at < $1`, s.ts(now.Add(-SignInForget))); err != nil {
		return fmt.Errorf("store: forget sign-in failures: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM signin_events WHERE at < $1`, s.ts(now.Add(-SignInEventRetention))); err != nil {
		return fmt.Errorf("store: delete old sign-in events: %w", err)
	}
	return nil
}

// insertSignInEvent records ev if its tenant exists; attempts on a tenant that does
// not exist have no operators to show them to.
func (s *Store) insertSignInEvent(ctx context.Context, tx *sql.Tx, ev SignInEvent) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO signin_events (tenant_id, name, address, kind, scope, locked_until, at)
		SELECT id, $2, $3, $4, $5, $6, $7 FROM tenants WHERE id = $1`,
		ev.TenantID, cleanText(ev.Name, watan.MaxNameLen), cleanText(ev.Address, maxAddressLen), ev.Kind, ev.Scope, s.nts(ev.Until), s.ts(ev.At))
	if err != nil {
		return fmt.Errorf("store: record sign-in event: %w", err)
	}
	return nil
}

// SignInEvents lists the tenant's latest sign-in events, newest first, at most
// limit of them.
func (s *Store) SignInEvents(ctx context.Context, tenantID int64, limit int) ([]SignInEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, tenant_id, name, address, kind, scope, locked_until, at FROM signin_events
		WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: sign-in events: %w", err)
	}
	defer rows.Close()
	var evs []SignInEvent
	for rows.Next() {
		var ev SignInEvent
		if err := rows.Scan(&ev.ID, &ev.TenantID, &ev.Name, &ev.Address, &ev.Kind, &ev.Scope,
			nullTimeCol{&ev.Until}, timeCol{&ev.At}); err != nil {
			return nil, fmt.Errorf("store: sign-in events: %w", err)
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sign-in events: %w", err)
	}
	return evs, nil
}
