package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	_, connectErr := pgconn.Connect(t.Context(), "postgres://u@127.0.0.1:1/db?connect_timeout=2")
	if connectErr == nil {
		t.Fatal("connected to port 1")
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connect refused", fmt.Errorf("store: begin: %w", connectErr), true},
		{"bad connection", fmt.Errorf("store: x: %w", driver.ErrBadConn), true},
		{"connection done", sql.ErrConnDone, true},
		{"pgx conn closed", fmt.Errorf("store: commit: %w", pgconn.ErrConnClosed), true},
		{"read on dropped connection", fmt.Errorf("store: order status: %w", io.ErrUnexpectedEOF), true},
		{"reset during a statement", fmt.Errorf("store: q: %w", reset), true},
		{"admin shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Severity: "FATAL", Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Severity: "FATAL", Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Severity: "FATAL", Code: "53300"}, true},
		{"sqlite busy", errors.New("database is locked (5) (SQLITE_BUSY)"), true},
		{"text of a connect error", errors.New("failed to connect to `user=x database=y`: 127.0.0.1:5432 (127.0.0.1): dial error: connect: connection refused"), true},

		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, false},
		{"query canceled", &pgconn.PgError{Code: "57014"}, false},
		{"no rows", sql.ErrNoRows, false},
		{"deadline", fmt.Errorf("store: x: %w", context.DeadlineExceeded), false},
		{"canceled", context.Canceled, false},
		{"conn busy (a bug, not an outage)", errors.New("conn busy"), false},
		{"a coded error", watan.Errorf(watan.ECodeUnavailable, "provider check failed: connection refused"), false},
		{"provider refused", fmt.Errorf("dispatch: %w", &watan.ProviderError{Kind: watan.FailTransport, Op: "place", Err: refused}), false},
		{"webhook receiver refused", &url.Error{Op: "Post", URL: "https://shop.example/hook", Err: refused}, false},
		{"webhook receiver hung up", &url.Error{Op: "Post", URL: "https://shop.example/hook", Err: io.ErrUnexpectedEOF}, false},
		{"anything else", errors.New("store: scan order: converting NULL to string"), false},
	}
	for _, tt := range tests {
		if got := store.IsUnavailable(tt.err); got != tt.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestCutConnectionIsUnavailable runs statements, transactions and pings through a
// proxy that is then cut, and checks that every error the outage causes — on
// connect, in the middle of a statement, at commit — is classified unavailable.
func TestCutConnectionIsUnavailable(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skip("needs PostgreSQL (" + storetest.EnvDatabaseURL + ")")
	}
	proxy, viaProxy := storetest.NewProxy(t, storetest.URL(t, store.EnginePostgres))
	st, err := store.Open(t.Context(), store.Config{URL: viaProxy, MaxOpenConns: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB().ExecContext(t.Context(), `CREATE TABLE cut (id int)`); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	var (
		mu       sync.Mutex
		wrong    []string
		failures int
	)
	ops := []func() error{
		func() error { _, err := st.DB().ExecContext(ctx, `SELECT pg_sleep(0.005)`); return err },
		func() error {
			return st.InTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO cut VALUES (1)`)
				return err
			})
		},
		func() error { return st.Ping(ctx) },
		func() error {
			var n int
			return st.DB().QueryRowContext(ctx, `SELECT count(*) FROM cut`).Scan(&n)
		},
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := ops[i%len(ops)]()
				if err == nil || ctx.Err() != nil {
					continue
				}
				mu.Lock()
				failures++
				if !store.IsUnavailable(err) && len(wrong) < 10 {
					wrong = append(wrong, err.Error())
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	proxy.Cut()
	time.Sleep(time.Second)
	proxy.Restore()
	// The store has recovered when a ping succeeds, not necessarily the first one:
	// a connection attempt begun during the cut can fail after the restore, and
	// database/sql hands a failed attempt's error to whichever request waits on the
	// pool next, which may be this ping.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = st.Ping(t.Context()); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("after the restore: %v", err)
	}
	stop()
	wg.Wait()
	if failures == 0 {
		t.Fatal("no operation failed: the cut did not bite")
	}
	for _, w := range wrong {
		t.Errorf("not classified unavailable: %s", w)
	}
	t.Logf("%d operations failed during the cut, all classified unavailable", failures)
}

// TestConnectTimeoutByDefault: a database host that drops packets must make a
// connection attempt fail (unavailable, 503) within seconds, not the operating
// system's minutes; a timeout the URL sets is kept.
func TestConnectTimeoutByDefault(t *testing.T) {
	t.Setenv("PGCONNECT_TIMEOUT", "")
	for in, want := range map[string]string{
		"postgres://u:p%40ss@db:5432/w?sslmode=disable":                    "postgres://u:p%40ss@db:5432/w?connect_timeout=5&sslmode=disable",
		"postgres://u@db/w?connect_timeout=30":                             "postgres://u@db/w?connect_timeout=30",
		"postgresql://db/w":                                                "postgresql://db/w?connect_timeout=5",
		"postgres://u@db/w?search_path=t_1&sslmode=disable&target=primary": "postgres://u@db/w?connect_timeout=5&search_path=t_1&sslmode=disable&target=primary",
	} {
		if got := store.WithConnectTimeout(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
