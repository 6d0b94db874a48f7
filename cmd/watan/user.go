package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/crypto/bcrypt"
)

// bcryptCost is what user passwords are hashed with.
const bcryptCost = bcrypt.DefaultCost

// cmdUser manages the dashboard's operators: user create, user list, user
// reset-password.
func cmdUser(ctx context.Context, env *Env, args []string) error {
	const usage = "Usage: watan user create --tenant ID --name NAME [--role admin|operator] [--password-stdin] [--lang en|ar] | watan user list --tenant ID | watan user reset-password --tenant ID --name NAME [--password-stdin]"
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "reset-password") {
		fmt.Fprintln(env.Stderr, usage)
		return errUsage
	}
	sub := args[0]
	fs := newFlagSet(env, "user "+sub, "user create --tenant ID --name NAME [--role admin|operator] [--password-stdin] [--lang en|ar] [flags]\n"+
		"       watan user list --tenant ID [flags]\n"+
		"       watan user reset-password --tenant ID --name NAME [--password-stdin] [flags]\n\n"+
		"Creates an operator who signs in to the dashboard, or gives one a new password\n"+
		"(ending their sessions). Without --password-stdin a random password is printed\n"+
		"once; only its hash is stored.")
	var db dbConfig
	db.register(fs)
	tenant := fs.String("tenant", "", "tenant id (required)")
	name := fs.String("name", "", "the operator's sign-in name (create; required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (create)")
	lang := fs.String("lang", "en", "dashboard language: en or ar (create)")
	role := fs.String("role", "admin", "admin (also manages operators and API keys on the dashboard) or operator (create)")
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	tid, err := strconv.ParseInt(*tenant, 10, 64)
	if err != nil || tid <= 0 {
		fmt.Fprintf(env.Stderr, "watan user %s: --tenant must be a tenant id (see watan tenant list)\n", sub)
		return errUsage
	}
	if sub != "list" && strings.TrimSpace(*name) == "" {
		fmt.Fprintf(env.Stderr, "watan user %s: --name is required\n", sub)
		return errUsage
	}
	password, generated := "", false
	if sub != "list" {
		if *fromStdin {
			// One line, so that `echo pw | watan user create` and a here-string work;
			// only the line ending is trimmed, since spaces may be part of a password.
			line, err := bufio.NewReader(env.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("watan user %s: read password from stdin: %w", sub, err)
			}
			password = strings.TrimRight(line, "\r\n")
		} else {
			password, generated = rand.Text(), true
		}
	}
	st, err := openStore(ctx, env, db, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return err
	}
	defer st.Close()
	if sub == "list" {
		us, err := st.ListUsers(ctx, tid)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tLANG\tCREATED\tSTATUS")
		for _, u := range us {
			status := "active"
			if u.DisabledAt != nil {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Name, u.Role, u.Lang, u.CreatedAt.Format("2006-01-02 15:04"), status)
		}
		return tw.Flush()
	}
	if sub == "reset-password" {
		u, err := st.FindUserByName(ctx, tid, *name)
		if err != nil {
			return err
		}
		if err := st.SetUserPassword(ctx, tid, u.ID, password); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "user %q of tenant %d has a new password; their sessions have ended\n", u.Name, tid)
		if generated {
			fmt.Fprintf(env.Stdout, "password (shown only this once):\n%s\n", password)
		}
		return nil
	}
	u, err := st.CreateUserWithRole(ctx, tid, *name, password, *lang, *role, bcryptCost)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "user %d %q (%s) created in tenant %d; sign in to the dashboard at / with tenant %d\n", u.ID, u.Name, u.Role, tid, tid)
	if generated {
		fmt.Fprintf(env.Stdout, "password (shown only this once):\n%s\n", password)
	}
	return nil
}
