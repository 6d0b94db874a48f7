package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"watan"
)

// User is an operator of one tenant who signs in to the dashboard. Only a bcrypt
// hash of the password is stored.
type User struct {
	ID       int64
	TenantID int64
	Name     string
	Lang     string // the dashboard's language for this user: "en" or "ar"
	// Role is RoleAdmin (manages the tenant's operators and API keys, and works
	// orders) or RoleOperator (works orders).
	Role      string
	CreatedAt time.Time
	// DisabledAt is when an admin disabled the user: they cannot sign in and
	// their sessions are gone. Nil while enabled.
	DisabledAt *time.Time
}

// Roles of users.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
)

// IsAdmin reports whether u manages the tenant's operators and API keys.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// Session is a signed-in user's server-side session. Token is the cookie value; it is
// known only to the store's caller at creation and when it looks the session up,
// since only its SHA-256 is stored.
type Session struct {
	Token     string
	CSRF      string // checked on every state-changing request of the session
	User      User
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Limits on users.
const (
	MinPasswordLen = 8
	// MaxPasswordLen is bcrypt's limit: it ignores (and x/crypto refuses) more.
	MaxPasswordLen = 72
)

// Langs are the dashboard languages a user may choose.
var langs = map[string]bool{"en": true, "ar": true}

// bcryptCost is bcrypt's default: about 50 ms per sign-in on this project's machine,
// slow enough to hurt guessing, fast enough not to matter to an operator.
const bcryptCost = bcrypt.DefaultCost

// dummyHash is compared against when a user does not exist, so that a wrong name
// costs as long as a wrong password and sign-in does not reveal which names exist.
// It is computed on first use, not at start, so that programs that never sign
// anyone in do not pay for it.
var dummyHash = sync.OnceValue(func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("watan-no-such-user"), bcryptCost)
	if err != nil {
		panic(err)
	}
	return h
})

// CreateUser adds an operator to the tenant with the given password (8 to 72 bytes)
// and language ("" means "en"). A name already taken in the tenant is an
// ECodeConflict error.
func (s *Store) CreateUser(ctx context.Context, tenantID int64, name, password, lang string) (User, error) {
	return s.CreateUserWithCost(ctx, tenantID, name, password, lang, bcryptCost)
}

// CreateUserWithCost is CreateUser with the given bcrypt cost (clamped to bcrypt's
// range). Sign-in costs what the stored hash says, so tests that sign in often
// create their users cheaply; everything else should use CreateUser.
func (s *Store) CreateUserWithCost(ctx context.Context, tenantID int64, name, password, lang string, cost int) (User, error) {
	return s.CreateUserWithRole(ctx, tenantID, name, password, lang, RoleAdmin, cost)
}

// CreateUserWithRole is CreateUserWithCost for a user of the given role (RoleAdmin
// or RoleOperator; "" means RoleOperator).
func (s *Store) CreateUserWithRole(ctx context.Context, tenantID int64, name, password, lang, role string, cost int) (User, error) {
	cost = min(max(cost, bcrypt.MinCost), bcrypt.MaxCost)
	if role == "" {
		role = RoleOperator
	}
	if role != RoleAdmin && role != RoleOperator {
		return User{}, watan.Errorf(watan.ECodeValidation, "role must be admin or operator")
	}
	name = strings.TrimSpace(name)
	if lang == "" {
		lang = "en"
	}
	switch {
	case name == "" || len(name) > watan.MaxNameLen || !utf8.ValidString(name):
		return User{}, watan.Errorf(watan.ECodeValidation, "name must be 1 to %d bytes of UTF-8", watan.MaxNameLen)
	case len(password) < MinPasswordLen || len(password) > MaxPasswordLen:
		return User{}, watan.Errorf(watan.ECodeValidation, "password must be %d to %d bytes", MinPasswordLen, MaxPasswordLen)
	case !langs[lang]:
		return User{}, watan.Errorf(watan.ECodeValidation, "language must be en or ar")
	}
	if _, err := s.FindTenant(ctx, tenantID); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return User{}, fmt.Errorf("store: hash password: %w", err)
	}
	u := User{TenantID: tenantID, Name: name, Lang: lang, Role: role, CreatedAt: s.now()}
	err = s.db.QueryRowContext(ctx, `INSERT INTO users (tenant_id, name, password_hash, lang, created_at, role)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, tenantID, name, string(hash), lang, s.ts(u.CreatedAt), role).Scan(&u.ID)
	if isUniqueViolation(err) {
		return User{}, watan.Errorf(watan.ECodeConflict, "user %q already exists in tenant %d", name, tenantID)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// SetUserPassword replaces a user's password.
func (s *Store) SetUserPassword(ctx context.Context, tenantID, userID int64, password string) error {
	if len(password) < MinPasswordLen || len(password) > MaxPasswordLen {
		return watan.Errorf(watan.ECodeValidation, "password must be %d to %d bytes", MinPasswordLen, MaxPasswordLen)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return fmt.Errorf("store: hash password: %w", err)
	}
	// A new password ends the user's sessions: whoever knew the old one is out.
	return s.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3`, string(hash), tenantID, userID)
		if err := userUpdated(res, err, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_sessions WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID); err != nil {
			return fmt.Errorf("store: end sessions: %w", err)
		}
		return nil
	})
}

// AuthenticateUser returns the tenant's user name if password is theirs, and an
// ECodeUnauthorized error, the same for an unknown name and a wrong password,
// otherwise. It neither throttles nor records the attempt: a sign-in form must use
// SignIn.
func (s *Store) AuthenticateUser(ctx context.Context, tenantID int64, name, password string) (User, error) {
	var u User
	var hash string
	name = strings.TrimSpace(name)
	err := sql.ErrNoRows
	// A name no user can have (CreateUser's rules; NUL, which PostgreSQL refuses
	// outright) is not looked up, but costs the same as any other unknown name.
	if name != "" && len(name) <= watan.MaxNameLen && utf8.ValidString(name) && !strings.ContainsRune(name, 0) {
		err = s.db.QueryRowContext(ctx, `SELECT id, tenant_id, name, lang, created_at, password_hash, role, disabled_at FROM users
			WHERE tenant_id = $1 AND name = $2`, tenantID, name).
			Scan(&u.ID, &u.TenantID, &u.Name, &u.Lang, timeCol{&u.CreatedAt}, &hash, &u.Role, nullTimeCol{&u.DisabledAt})
	}
	unauthorized := watan.Errorf(watan.ECodeUnauthorized, "wrong tenant, name or password")
	if isNoRows(err) {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return User{}, unauthorized
	}
	if err != nil {
		return User{}, fmt.Errorf("store: find user: %w", err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return User{}, unauthorized
		}
		return User{}, fmt.Errorf("store: compare password: %w", err)
	}
	if u.DisabledAt != nil {
		// Told apart from a wrong password only by the log: the sign-in form
		// must not confirm that the name exists.
		return User{}, unauthorized
	}
	return u, nil
}

// FindUserByName returns the tenant's user called name, or an ECodeNotFound error.
func (s *Store) FindUserByName(ctx context.Context, tenantID int64, name string) (User, error) {
	us, err := s.ListUsers(ctx, tenantID)
	if err != nil {
		return User{}, err
	}
	for _, u := range us {
		if u.Name == strings.TrimSpace(name) {
			return u, nil
		}
	}
	return User{}, watan.Errorf(watan.ECodeNotFound, "no user %q in tenant %d", name, tenantID)
}

// SetUserDisabled disables a user (ending their sessions in the same transaction)
// or enables them again.
func (s *Store) SetUserDisabled(ctx context.Context, tenantID, userID int64, disabled bool) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		var at any
		if disabled {
			at = s.ts(s.now())
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = $1 WHERE tenant_id = $2 AND id = $3`, at, tenantID, userID)
		if err := userUpdated(res, err, userID); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_sessions WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID); err != nil {
			return fmt.Errorf("store: end sessions: %w", err)
		}
		return nil
	})
}

// SetUserLang changes the dashboard language of a user ("en" or "ar").
func (s *Store) SetUserLang(ctx context.Context, tenantID, userID int64, lang string) error {
	if !langs[lang] {
		return watan.Errorf(watan.ECodeValidation, "language must be en or ar")
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET lang = $1 WHERE tenant_id = $2 AND id = $3`, lang, tenantID, userID)
	return userUpdated(res, err, userID)
}

func userUpdated(res interface{ RowsAffected() (int64, error) }, err error, userID int64) error {
	if err != nil {
		return fmt.Errorf("store: update user: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: update user: %w", err)
	}
	if n == 0 {
		return errNotFound("user", userID)
	}
	return nil
}

// ListUsers lists the tenant's users by name.
func (s *Store) ListUsers(ctx context.Context, tenantID int64) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, tenant_id, name, lang, created_at, role, disabled_at FROM users WHERE tenant_id = $1 ORDER BY name`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var us []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.TenantID, &u.Name, &u.Lang, timeCol{&u.CreatedAt}, &u.Role, nullTimeCol{&u.DisabledAt}); err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CreateSession starts a session for u lasting ttl, with a fresh token and CSRF
// token. Expired sessions are deleted on the way, so the table stays small without
// a job.
func (s *Store) CreateSession(ctx context.Context, u User, ttl time.Duration) (Session, error) {
	now := s.now()
	sess := Session{Token: randomToken(), CSRF: randomToken(), User: u, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM user_sessions WHERE expires_at < $1`, s.ts(now)); err != nil {
		return Session{}, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO user_sessions (token_hash, tenant_id, user_id, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, hashToken(sess.Token), u.TenantID, u.ID, sess.CSRF, s.ts(now), s.ts(sess.ExpiresAt))
	if err != nil {
		return Session{}, fmt.Errorf("store: create session: %w", err)
	}
	return sess, nil
}

// FindSession returns the live session with the token and its user, or an
// ECodeUnauthorized error for an unknown or expired one.
func (s *Store) FindSession(ctx context.Context, token string) (Session, error) {
	sess := Session{Token: token}
	u := &sess.User
	err := s.db.QueryRowContext(ctx, `SELECT s.csrf, s.created_at, s.expires_at, u.id, u.tenant_id, u.name, u.lang, u.created_at, u.role
		FROM user_sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL`, hashToken(token), s.ts(s.now())).
		Scan(&sess.CSRF, timeCol{&sess.CreatedAt}, timeCol{&sess.ExpiresAt}, &u.ID, &u.TenantID, &u.Name, &u.Lang, timeCol{&u.CreatedAt}, &u.Role)
	if isNoRows(err) {
		return Session{}, watan.Errorf(watan.ECodeUnauthorized, "no such session")
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: find session: %w", err)
	}
	return sess, nil
}

// DeleteSession ends the session with the token; an unknown token is not an error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM user_sessions WHERE token_hash = $1`, hashToken(token)); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}
