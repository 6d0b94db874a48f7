// Command watan is the watan order engine: one binary that serves the API, runs the
// dispatch and monitoring workers, migrates its database and offers operator tools.
//
// Run "watan --help" for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Env is what a subcommand may touch of the outside world. Tests build one with
// buffers and a fake environment so that commands run in-process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP API and the workers (creates a demo tenant on an empty database)", cmdServe},
		{"worker", "run the workers only, as an extra node on a shared PostgreSQL database", cmdWorker},
		{"backup", "write a consistent copy of the embedded SQLite database, also while serving", cmdBackup},
		{"move", "move an embedded SQLite install to a fresh PostgreSQL database, every tenant and order", cmdMove},
		{"migrate", "apply database migrations (watan's and the job queue's) and exit", cmdMigrate},
		{"tenant", "manage tenants: tenant create NAME, tenant list", cmdTenant},
		{"apikey", "manage API keys: apikey create|list|revoke|rotate --tenant ID", cmdAPIKey},
		{"user", "manage dashboard operators: user create --tenant ID --name NAME, user list --tenant ID", cmdUser},
		{"bench", "measure intake, end-to-end and monitoring on simulated providers", cmdBench},
		{"fakeprovider", "serve simulated znet and barakat providers on a loopback port", cmdFakeProvider},
		{"provider", "operator tools for provider accounts: provider check", cmdProvider},
		{"secrets", "the key that seals secrets at rest: secrets rotate, secrets keygen", cmdSecrets},
		{"version", "print the version", cmdVersion},
	}
}

// errUsage marks a usage error that has already been explained to the user.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	err := run(ctx, env, os.Args[1:])
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "watan:", err)
		os.Exit(1)
	}
}

// run dispatches args to a subcommand.
func run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "watan: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "watan: order engine for digital-goods resellers")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: watan <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "watan <command> --help" for a command's flags. Every flag can also be set`)
	fmt.Fprintln(w, "by its environment variable, shown in the flag's help; flags win.")
}

// newFlagSet returns a flag set that writes its help to env.Stderr and returns errors
// instead of exiting.
func newFlagSet(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("watan "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: watan %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// envDefault returns the environment variable's value, or def when it is unset.
func envDefault(env *Env, key, def string) string {
	if v := strings.TrimSpace(env.Getenv(key)); v != "" {
		return v
	}
	return def
}
