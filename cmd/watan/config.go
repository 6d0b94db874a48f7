package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of the settings shared by several subcommands.
const (
	defaultDatabaseURL = "sqlite:watan.db"
	defaultHTTPAddr    = "127.0.0.1:8080"
)

// dbConfig is the database setting every command that touches the store needs.
type dbConfig struct {
	URL string
}

func (c *dbConfig) register(fs *flag.FlagSet, env *Env) {
	fs.StringVar(&c.URL, "database-url", envDefault(env, "WATAN_DATABASE_URL", defaultDatabaseURL),
		`database: "sqlite:PATH" (embedded) or "postgres://..." [$WATAN_DATABASE_URL]`)
}

// logConfig selects the log format and level.
type logConfig struct {
	Format string
	Level  string
}

func (c *logConfig) register(fs *flag.FlagSet, env *Env) {
	fs.StringVar(&c.Format, "log-format", envDefault(env, "WATAN_LOG_FORMAT", "auto"),
		`log format: "text", "json", or "auto" (text on a terminal, JSON otherwise) [$WATAN_LOG_FORMAT]`)
	fs.StringVar(&c.Level, "log-level", envDefault(env, "WATAN_LOG_LEVEL", "info"),
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

// envInt reads an integer setting from the environment, for flag defaults.
func envInt(env *Env, key string, def int) int {
	if v, err := strconv.Atoi(envDefault(env, key, "")); err == nil {
		return v
	}
	return def
}

// envDuration reads a duration setting ("30s", "5m") from the environment.
func envDuration(env *Env, key string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(envDefault(env, key, "")); err == nil {
		return v
	}
	return def
}

// envBool reads a boolean setting from the environment, for flag defaults.
func envBool(env *Env, key string, def bool) bool {
	switch strings.ToLower(envDefault(env, key, "")) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	return def
}
