package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"watan/internal/seal"
)

// The key that seals provider credentials and webhook secrets at rest comes from
// WATAN_SECRET_KEY (base64 keys, comma-separated, the last one newest) and/or
// --secret-key-file (one base64 key per line, the last one newest). An embedded
// SQLite install with neither gets a key generated next to its database file
// (watan.key, mode 0600), so the two commands of the README keep working; a
// PostgreSQL install, whose nodes must share the key, has to be given one.

const envSecretKey = "WATAN_SECRET_KEY"

// keyring builds the keyring for cfg. required makes a missing key an error on
// PostgreSQL (serve, worker, secrets rotate); other commands go on without one.
func (c dbConfig) keyring(env *Env, required bool) (*seal.Keyring, error) {
	var keys [][]byte
	if v := env.Getenv(envSecretKey); v != "" {
		ks, err := seal.ParseKeys(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envSecretKey, err)
		}
		keys = append(keys, ks...)
	}
	if c.SecretKeyFile != "" {
		b, err := os.ReadFile(c.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--secret-key-file: %w", err)
		}
		ks, err := seal.ParseKeys(string(b))
		if err != nil {
			return nil, fmt.Errorf("--secret-key-file %s: %w", c.SecretKeyFile, err)
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		path, ok := embeddedKeyFile(c.URL)
		switch {
		case ok && path == "": // an in-memory database: a key for this process alone
			k, err := seal.GenerateKey()
			if err != nil {
				return nil, err
			}
			keys, _ = seal.ParseKeys(k)
		case ok:
			ks, err := loadOrCreateKeyFile(path)
			if err != nil {
				return nil, err
			}
			keys = ks
		case required:
			return nil, fmt.Errorf("provider credentials and webhook secrets are sealed at rest: set %s or --secret-key-file (generate a key with: watan secrets keygen)", envSecretKey)
		default:
			return nil, nil
		}
	}
	return seal.New(keys...)
}

// embeddedKeyFile is where an embedded SQLite database keeps its generated key:
// beside the database file ("" for an in-memory database); ok is false for
// PostgreSQL.
func embeddedKeyFile(url string) (path string, ok bool) {
	if url == "" {
		url = defaultDatabaseURL
	}
	p, isSQLite := strings.CutPrefix(url, "sqlite:")
	if !isSQLite {
		return "", false
	}
	p = strings.TrimPrefix(p, "//")
	p, _, _ = strings.Cut(p, "?")
	if p == "" || p == ":memory:" || strings.HasPrefix(p, "file::memory:") {
		return "", true
	}
	return filepath.Join(filepath.Dir(p), "watan.key"), true
}

func loadOrCreateKeyFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, gerr := seal.GenerateKey()
		if gerr != nil {
			return nil, gerr
		}
		content := "# watan secret key: seals provider credentials and webhook secrets. Keep it with backups, apart from the database.\n" + k + "\n"
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, fmt.Errorf("creating the secret key %s: %w", path, err)
		}
		b = []byte(content)
	} else if err != nil {
		return nil, fmt.Errorf("reading the secret key %s: %w", path, err)
	}
	return seal.ParseKeys(string(b))
}

func cmdSecrets(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "keygen") {
		fmt.Fprintln(env.Stderr, "usage: watan secrets rotate [flags] | watan secrets keygen")
		return errUsage
	}
	if args[0] == "keygen" {
		k, err := seal.GenerateKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, k)
		return nil
	}
	fs := newFlagSet(env, "secrets rotate", "secrets rotate [flags]\n\nRe-seals every provider credential and webhook secret under the newest key\n(the last of WATAN_SECRET_KEY or of --secret-key-file). Afterwards the older keys can be dropped.")
	var db dbConfig
	db.register(fs)
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	st, err := openStore(ctx, env, db, slog.New(slog.DiscardHandler), true)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.ResealSecrets(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "re-sealed %d secrets under the newest key\n", n)
	return nil
}
