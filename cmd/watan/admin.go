package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"watan/internal/store"
)

// openStore opens and migrates the database named by cfg, with the key that seals
// secrets at rest (required: a PostgreSQL database without a key is an error).
func openStore(ctx context.Context, env *Env, cfg dbConfig, logger *slog.Logger, required bool) (*store.Store, error) {
	keys, err := cfg.keyring(env, required)
	if err != nil {
		return nil, err
	}
	// Only serve authenticates API keys; a key revoked by any command or node is
	// refused everywhere within the cache's second.
	scfg := store.Config{URL: cfg.URL, Logger: logger, APIKeyCacheTTL: store.DefaultAPIKeyCacheTTL, MaxOpenConns: cfg.MaxConns}
	if keys != nil {
		scfg.Sealer = keys
	}
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func cmdMigrate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "migrate", "migrate [flags]\n\nApplies watan's and the job queue's migrations; safe to run again.")
	var db dbConfig
	db.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	st, err := openStore(ctx, env, db, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(env.Stdout, "migrations applied (%s)\n", st.Engine())
	return nil
}

func cmdTenant(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		fmt.Fprintln(env.Stderr, "Usage: watan tenant create NAME | watan tenant list")
		return errUsage
	}
	sub := args[0]
	fs := newFlagSet(env, "tenant "+sub, "tenant create [flags] NAME | tenant list [flags]")
	var db dbConfig
	db.register(fs)
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	if sub == "create" && fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	st, err := openStore(ctx, env, db, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return err
	}
	defer st.Close()
	if sub == "create" {
		t, err := st.CreateTenant(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "tenant %d %q created; next: watan apikey create --tenant %d\n", t.ID, t.Name, t.ID)
		return nil
	}
	ts, err := st.ListTenants(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}
