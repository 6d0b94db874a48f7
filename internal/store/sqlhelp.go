package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
	"watan"
)

// querier is what *sql.DB and *sql.Tx have in common, so that one helper serves both
// inside and outside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// SQL is written once, with $1-style placeholders: PostgreSQL requires them and
// modernc's SQLite binds "$N" to the N-th argument.

// appendIn appends vals to args and returns the placeholders for them, for an
// IN (...) list.
func appendIn[T any](args []any, vals []T) ([]any, string) {
	marks := make([]string, len(vals))
	for i, v := range vals {
		args = append(args, v)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	return args, strings.Join(marks, ", ")
}

// scanID reads a row of one ID.
func scanID(r rowScanner) (int64, error) {
	var id int64
	return id, r.Scan(&id)
}

// ts converts t to the engine's stored representation of a timestamp.
func (s *Store) ts(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.engine == EngineSQLite {
		return t.UnixMicro()
	}
	return t
}

// nts is ts for an optional timestamp; nil is stored as NULL.
func (s *Store) nts(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return s.ts(*t)
}

// timeCol scans a NOT NULL timestamp column of either engine.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*c.t = v.UTC()
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("store: cannot scan %T into a timestamp", src)
	}
	return nil
}

// nullTimeCol scans a nullable timestamp column; NULL becomes a nil pointer.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.t = &t
	return nil
}

// nullString stores "" as NULL, for columns where NULL keeps a unique index or a
// partial index from covering empty values.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// nullID stores 0 as NULL, for optional references.
func nullID(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// jsonArg marshals v for a JSON column (JSONB on PostgreSQL, TEXT on SQLite); both
// drivers take the JSON text as a string.
func jsonArg(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("store: encode json: %w", err)
	}
	return string(b), nil
}

// jsonCol scans a nullable JSON column into a value; NULL leaves it unchanged.
type jsonCol struct{ v any }

func (c jsonCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("store: cannot scan %T as JSON", src)
	}
	if err := json.Unmarshal(b, c.v); err != nil {
		return fmt.Errorf("store: decode json: %w", err)
	}
	return nil
}

// isCheckViolation reports whether err is PostgreSQL's violation of the CHECK
// constraint named constraint.
func isCheckViolation(err error, constraint string) bool {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pe.Code == "23514" && pe.ConstraintName == constraint
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected: the server
// aborted this transaction to break a cycle of lock waits.
func isDeadlock(err error) bool {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pe.Code == "40P01"
}

// isUniqueViolation reports whether err is a unique or primary key constraint
// violation on either engine.
func isUniqueViolation(err error) bool {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code == "23505"
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// nullAmountCol scans a nullable amount column into a *watan.Amount.
type nullAmountCol struct{ a **watan.Amount }

func (c nullAmountCol) Scan(src any) error {
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	if !v.Valid {
		*c.a = nil
		return nil
	}
	a := watan.Amount(v.Int64)
	*c.a = &a
	return nil
}

// nullAmount stores a nil amount as NULL.
func nullAmount(a *watan.Amount) any {
	if a == nil {
		return nil
	}
	return int64(*a)
}
