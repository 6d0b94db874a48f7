package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

const apiKeyUsage = "Usage: watan apikey create --tenant ID [--name NAME]\n" +
	"       watan apikey list --tenant ID\n" +
	"       watan apikey revoke --tenant ID --id KEY_ID\n" +
	"       watan apikey rotate --tenant ID --id KEY_ID"

// cmdAPIKey manages a tenant's API keys: create, list, revoke, rotate. Every
// subcommand names the tenant, so that a mistyped key id cannot touch another
// tenant's key: it is not found instead.
func cmdAPIKey(ctx context.Context, env *Env, args []string) error {
	subs := []string{"create", "list", "revoke", "rotate"}
	if len(args) == 0 || !slices.Contains(subs, args[0]) {
		fmt.Fprintln(env.Stderr, apiKeyUsage)
		return errUsage
	}
	sub := args[0]
	fs := newFlagSet(env, "apikey "+sub, "apikey create --tenant ID [--name NAME] [flags]\n"+
		"       watan apikey list --tenant ID [flags]\n"+
		"       watan apikey revoke --tenant ID --id KEY_ID [flags]\n"+
		"       watan apikey rotate --tenant ID --id KEY_ID [flags]\n\n"+
		"create prints a new API key once; only its hash is stored. revoke makes a key fail\n"+
		"from the next request on, on every node. rotate creates a key with the same name\n"+
		"and revokes the old one in one transaction, and prints the new key once.")
	var db dbConfig
	db.register(fs)
	tenant := fs.String("tenant", "", "tenant id (required)")
	name := fs.String("name", "default", "a name to tell keys apart (create)")
	keyID := fs.String("id", "", "the key's id, from watan apikey list (revoke, rotate; required)")
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	tid, err := strconv.ParseInt(*tenant, 10, 64)
	if err != nil || tid <= 0 {
		fmt.Fprintf(env.Stderr, "watan apikey %s: --tenant must be a tenant id (see watan tenant list)\n", sub)
		return errUsage
	}
	var kid int64
	if sub == "revoke" || sub == "rotate" {
		kid, err = strconv.ParseInt(*keyID, 10, 64)
		if err != nil || kid <= 0 {
			fmt.Fprintf(env.Stderr, "watan apikey %s: --id must be an API key id (see watan apikey list --tenant %d)\n", sub, tid)
			return errUsage
		}
	}
	st, err := openStore(ctx, env, db, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return err
	}
	defer st.Close()
	// An unknown tenant is an error rather than an empty list or a missing key.
	if _, err := st.FindTenant(ctx, tid); err != nil {
		return err
	}
	switch sub {
	case "create":
		k, plain, err := st.CreateAPIKey(ctx, tid, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "API key %d (%s) for tenant %d; it is shown only this once:\n%s\n", k.ID, k.Name, tid, plain)
	case "list":
		ks, err := st.ListAPIKeys(ctx, tid)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
		for _, k := range ks {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.CreatedAt.Format(listTime),
				optTime(k.LastUsedAt), optTime(k.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		k, err := st.RevokeAPIKey(ctx, tid, kid)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "API key %d (%s) of tenant %d is revoked since %s; requests with it get 401\n",
			k.ID, k.Name, tid, k.RevokedAt.Format(listTime))
	case "rotate":
		k, plain, err := st.RotateAPIKey(ctx, tid, kid)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "API key %d (%s) for tenant %d replaces key %d, which is revoked; it is shown only this once:\n%s\n",
			k.ID, k.Name, tid, kid, plain)
	}
	return nil
}

// listTime is how the admin commands print times (UTC, as stored).
const listTime = "2006-01-02 15:04"

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(listTime)
}
