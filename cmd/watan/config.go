package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"watan/internal/store"
)

// Defaults of the settings shared by several subcommands.
const (
	defaultDatabaseURL = "sqlite:watan.db"
	defaultHTTPAddr    = "127.0.0.1:8080"
)

// dbConfig is the database setting every command that touches the store needs.
type dbConfig struct {
	URL           string
	SecretKeyFile string
	MaxConns      int // 0: the store's default
}

func (c *dbConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "database-url", defaultDatabaseURL,
		`database: "sqlite:PATH" (embedded) or "postgres://..." [$WATAN_DATABASE_URL]`)
	fs.IntVar(&c.MaxConns, "db-max-conns", store.DefaultMaxOpenConns,
		"PostgreSQL: connections this process's pool may open (serve opens them all at start); budget max_connections across nodes [$WATAN_DB_MAX_CONNS]")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", "",
		"file of base64 keys (one a line, the last newest) that seal provider credentials and webhook secrets; keys may also be given in $WATAN_SECRET_KEY [$WATAN_SECRET_KEY_FILE]")
}

// logConfig selects the log format and level.
type logConfig struct {
	Format string
	Level  string
}

func (c *logConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Format, "log-format", "auto",
		`log format: "text", "json", or "auto" (text on a terminal, JSON otherwise) [$WATAN_LOG_FORMAT]`)
	fs.StringVar(&c.Level, "log-level", "info",
		`log level: debug, info, warn or error [$WATAN_LOG_LEVEL]`)
}

// logger builds the process logger writing to w.
func (c *logConfig) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.Format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "auto", "":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text, json or auto", c.Format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// settingEnv names the environment variable of each flag the server commands share.
// Every flag can be set either way; the command line wins.
var settingEnv = map[string]string{
	"database-url": "WATAN_DATABASE_URL", "http-addr": "WATAN_HTTP_ADDR",
	"log-format": "WATAN_LOG_FORMAT", "log-level": "WATAN_LOG_LEVEL",
	"workers": "WATAN_WORKERS", "sweep-interval": "WATAN_SWEEP_INTERVAL",
	"rescue-after": "WATAN_RESCUE_AFTER", "shutdown-timeout": "WATAN_SHUTDOWN_TIMEOUT",
	"demo": "WATAN_DEMO", "demo-delay": "WATAN_DEMO_DELAY", "demo-first-check": "WATAN_DEMO_FIRST_CHECK",
	"rate-limit": "WATAN_RATE_LIMIT", "rate-burst": "WATAN_RATE_BURST", "secret-key-file": "WATAN_SECRET_KEY_FILE",
	"allow-private-targets": "WATAN_ALLOW_PRIVATE_TARGETS", "allow-targets": "WATAN_ALLOW_TARGETS",
	"balance-probe-interval": "WATAN_BALANCE_PROBE_INTERVAL", "db-max-conns": "WATAN_DB_MAX_CONNS",
}

// parseFlags parses args, then sets the flags the command line left unset from their
// environment variables; a bad value in either place is an error naming it.
func parseFlags(fs *flag.FlagSet, env *Env, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyFlagEnv(fs, env, settingEnv); err != nil {
		fmt.Fprintf(env.Stderr, "watan %s: %v\n", strings.TrimPrefix(fs.Name(), "watan "), err)
		return errUsage
	}
	return nil
}
