package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"watan/internal/seal"
)

// TestEmbeddedKeyAndRotate: an embedded install gets its key generated beside the
// database, readable by its owner only, and reused on the next start; `secrets
// keygen` prints a usable key; `secrets rotate` with a new newest key re-seals; a
// PostgreSQL install without a key is refused.
func TestEmbeddedKeyAndRotate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "watan.db")
	var out bytes.Buffer
	env := fpEnv(nil, &out, &out)
	if err := run(ctx, env, []string{"migrate", "--database-url", db}); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "watan.key")
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("no key beside the database: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(keyPath)
	if err := run(ctx, env, []string{"migrate", "--database-url", db}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(keyPath); !bytes.Equal(first, again) {
		t.Fatal("the key was replaced on the next start")
	}

	out.Reset()
	if err := run(ctx, env, []string{"secrets", "keygen"}); err != nil {
		t.Fatal(err)
	}
	newKey := strings.TrimSpace(out.String())
	if ks, err := seal.ParseKeys(newKey); err != nil || len(ks) != 1 {
		t.Fatalf("keygen printed %q: %v", newKey, err)
	}
	// The old key first, the new one last (newest): rotate re-seals under it.
	both := filepath.Join(dir, "both.key")
	if err := os.WriteFile(both, append(first, []byte(newKey+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, env, []string{"secrets", "rotate", "--database-url", db, "--secret-key-file", both}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "re-sealed 0 secrets") {
		t.Fatalf("rotate on an empty database: %q", out.String())
	}

	if _, err := (dbConfig{URL: "postgres://127.0.0.1/x"}).keyring(env, true); err == nil || !strings.Contains(err.Error(), "WATAN_SECRET_KEY") {
		t.Fatalf("PostgreSQL without a key: %v", err)
	}
}
