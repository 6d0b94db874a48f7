package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"watan/internal/store"
)

func cmdBackup(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "backup", "backup --to FILE [flags]\n\nWrites a consistent copy of the embedded SQLite database to FILE, also while\n\"watan serve\" runs on it. FILE must not exist. On PostgreSQL use pg_dump or a\nbase backup with WAL archiving instead (see the README).")
	var db dbConfig
	db.register(fs)
	to := fs.String("to", "", "the file to write the copy to; it must not exist")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if *to == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if !strings.HasPrefix(db.URL, "sqlite:") {
		return errors.New("backup copies the embedded SQLite database; back up PostgreSQL with pg_dump, or with a base backup and WAL archiving for point-in-time recovery (see the README)")
	}
	// Opened as it is: a backup neither migrates nor needs the sealing key.
	st, err := store.Open(ctx, store.Config{URL: db.URL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, *to); err != nil {
		return err
	}
	info, err := os.Stat(*to)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "backed up %s to %s (%d bytes)\n", st.Path(), *to, info.Size())
	if key, ok := embeddedKeyFile(db.URL); ok && key != "" {
		if _, err := os.Stat(key); err == nil {
			fmt.Fprintf(env.Stdout, "keep %s with it: the sealed provider credentials and webhook secrets need that key\n", key)
			fmt.Fprintf(env.Stdout, "to restore: copy it beside the database as %s\n", filepath.Base(key))
		}
	}
	return nil
}
