package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"watan"
)

// IsUnavailable reports whether err says the database cannot be reached or cannot
// serve right now: a connection that could not be made (refused, reset, closed
// during start-up, a server shutting down or starting, too many connections,
// authentication refused), a connection lost in the middle of a statement or a
// commit, a server that ended the session (SQLSTATE class 08, 57P01–57P03), or
// SQLite's lock held past the busy timeout. Such a condition passes; callers
// answer "retry later" rather than report a bug. A commit that fails this way may
// or may not have committed: a retry must be idempotent (orders are, by client
// order id).
//
// Errors of a provider or a webhook receiver (*watan.ProviderError, *url.Error)
// are never the database's, whatever network error they wrap, and neither is an
// error with a code (*watan.Error). A deadline or a cancellation is not an outage
// either: the caller ran out of time, and says so itself.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var (
		provErr *watan.ProviderError
		urlErr  *url.Error
		codeErr *watan.Error
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
		opErr   *net.OpError
	)
	switch {
	case errors.As(err, &provErr), errors.As(err, &urlErr), errors.As(err, &codeErr):
		return false
	case errors.As(err, &connErr):
		return true
	case errors.As(err, &pgErr):
		return unavailableState(pgErr.Code)
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.ErrUnexpectedEOF):
		// The pool's or the driver's word for a connection that went away, and
		// what reading from one that closed mid-answer gives.
		return true
	case errors.As(err, &opErr):
		// A read or write on the database's socket failed (reset, broken pipe).
		return true
	}
	return IsUnavailableText(err.Error())
}

// unavailableState reports whether a SQLSTATE says the server cannot serve this
// session: connection exceptions (class 08), administrator, crash or start-up
// shutdown (57P01–57P03), too many connections (53300).
func unavailableState(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
}

// unavailableTexts are what IsUnavailable's errors say, for errors known only by
// their text: River logs err.Error(), and some errors lose their type on the way.
var unavailableTexts = []string{
	"failed to connect to `", // pgconn.ConnectError
	"conn closed",            // pgconn.ErrConnClosed
	"unexpected EOF",
	"driver: bad connection",
	"sql: connection is already closed",
	"connection reset by peer",
	"connection refused",
	"broken pipe",
	"(SQLSTATE 08",
	"(SQLSTATE 57P01)", "(SQLSTATE 57P02)", "(SQLSTATE 57P03)", "(SQLSTATE 53300)",
	"SQLITE_BUSY", "database is locked",
}

// IsUnavailableText is IsUnavailable for the text of a database error (River's
// logs carry errors as text). Only use it on text that comes from the database
// side: a provider's "connection refused" reads the same.
func IsUnavailableText(msg string) bool {
	for _, s := range unavailableTexts {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
