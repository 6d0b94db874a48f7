package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"watan/internal/jobs"
	"watan/internal/store"
)

func cmdMove(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "move", "move --from sqlite:PATH --to postgres://...\n\nCopies an embedded install, every tenant and all it owns, into a fresh PostgreSQL\ndatabase, verifies the copy and re-creates the pending work there. Stop \"watan\nserve\" first; the source file is only read. A move that fails leaves the target\nempty, so running it again is safe.")
	from := fs.String("from", "", `the embedded database to move: "sqlite:PATH"`)
	to := fs.String("to", "", `the PostgreSQL database to move it to: "postgres://..."; it must hold no data`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || !strings.HasPrefix(*from, "sqlite:") ||
		!(strings.HasPrefix(*to, "postgres://") || strings.HasPrefix(*to, "postgresql://")) {
		fmt.Fprintln(env.Stderr, `watan move: want --from sqlite:PATH and --to postgres://...`)
		fs.Usage()
		return errUsage
	}
	rep, err := runMove(ctx, env, *from, *to, nil)
	if err != nil {
		return err
	}
	printMoveReport(env.Stdout, rep)
	if key, ok := embeddedKeyFile(*from); ok && key != "" && env.Getenv(envSecretKey) == "" {
		if _, err := os.Stat(key); err == nil {
			abs, _ := filepath.Abs(key)
			fmt.Fprintf(env.Stdout, "\nProvider credentials and webhook secrets were copied sealed. Start every node with\n  --secret-key-file %s\n(or that file's key in %s); keep the file apart from the database.\n", abs, envSecretKey)
		}
	}
	fmt.Fprintf(env.Stdout, "\nNext: watan serve --database-url '%s' (and watan worker on more nodes)\n", redactURL(*to))
	return nil
}

// runMove opens both databases and moves from into to; afterTable is the store's
// failure-injection hook for tests.
func runMove(ctx context.Context, env *Env, from, to string, afterTable func(string) error) (store.MoveReport, error) {
	var rep store.MoveReport
	quiet := slog.New(slog.DiscardHandler)
	// Sealed values are copied as they are: neither side needs the key.
	src, err := store.Open(ctx, store.Config{URL: from, Logger: quiet})
	if err != nil {
		return rep, fmt.Errorf("move: source: %w", err)
	}
	defer src.Close()
	if src.Path() == "" {
		return rep, errors.New("move: the source must be a SQLite file")
	}
	if _, err := os.Stat(src.Path()); err != nil {
		return rep, fmt.Errorf("move: source: %w", err)
	}
	unlock, err := src.LockFile()
	if errors.Is(err, store.ErrFileInUse) {
		return rep, fmt.Errorf("move: refusing to move %s while another watan process (serve, or another move) uses it: stop it first", src.Path())
	}
	if err != nil {
		return rep, fmt.Errorf("move: %w", err)
	}
	defer unlock() //nolint:errcheck // released with the process anyway
	// The source is brought to this binary's schema, as serve would on start.
	if err := src.Migrate(ctx); err != nil {
		return rep, fmt.Errorf("move: source: %w", err)
	}
	dst, err := store.Open(ctx, store.Config{URL: to, Logger: quiet, MaxOpenConns: 4})
	if err != nil {
		return rep, fmt.Errorf("move: target: %w", err)
	}
	defer dst.Close()
	if err := dst.Migrate(ctx); err != nil {
		return rep, fmt.Errorf("move: target: %w", err)
	}
	// A queue that is never started: only its inserts are used, in the move's
	// transaction.
	q, err := jobs.New(ctx, jobs.Config{DB: dst.DB(), Postgres: true, Logger: quiet})
	if err != nil {
		return rep, fmt.Errorf("move: target: %w", err)
	}
	bar := newProgressBar(env.Stderr)
	defer bar.finish()
	rep, err = store.Move(ctx, src, dst, store.MoveConfig{
		Enqueue: func(ctx context.Context, tx *sql.Tx, ws []store.PendingWork) error {
			var b jobs.Batch
			for _, w := range ws {
				switch w.Kind {
				case store.PendingDispatch:
					b.Dispatch = append(b.Dispatch, w.Order)
				case store.PendingCheck:
					b.Check = append(b.Check, jobs.DelayedCheck{Order: w.Order, Delay: w.Delay})
				case store.PendingWebhook:
					b.Webhook = append(b.Webhook, jobs.WebhookArgs{TenantID: w.TenantID, DeliveryID: w.DeliveryID})
				default:
					return fmt.Errorf("unknown pending work %q", w.Kind)
				}
			}
			return q.EnqueueBatchTx(ctx, tx, b)
		},
		Progress:   bar.update,
		AfterTable: afterTable,
	})
	if err != nil {
		return rep, fmt.Errorf("move: %w (the target was left empty; fix the cause and run the move again)", err)
	}
	return rep, nil
}

func printMoveReport(w io.Writer, rep store.MoveReport) {
	fmt.Fprintf(w, "moved %d tenants and %d orders in %s\n\n", rep.Tenants, rep.Orders, rep.Elapsed.Round(10*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "table\trows (source = target)\t")
	for _, t := range rep.Tables {
		fmt.Fprintf(tw, "%s\t%d\t\n", t.Name, t.Rows)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nverified: every table's row count on both sides; %d accounts, each balance equal to its ledger on both sides\n", rep.Accounts)
	fmt.Fprintf(w, "sequences continued: %d (ids and each tenant's order numbers)\n", rep.Sequences)
	fmt.Fprintf(w, "pending work re-created: %d dispatches, %d status checks, %d webhook deliveries\n", rep.Dispatches, rep.Checks, rep.Webhooks)
}

// redactURL hides a password in a database URL.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	cred, host, ok := strings.Cut(rest, "@")
	if !ok {
		return raw
	}
	if user, _, hasPass := strings.Cut(cred, ":"); hasPass {
		return scheme + "://" + user + ":***@" + host
	}
	return raw
}

// progressBar draws a move's progress on a terminal, at most ten times a second,
// and nothing when the output is not one.
type progressBar struct {
	w    io.Writer
	on   bool
	mu   sync.Mutex
	last time.Time
	drew bool
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, on: isTerminal(w)} }

func (b *progressBar) update(p store.MoveProgress) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.last) < 100*time.Millisecond && !p.Verifying && !p.Enqueueing {
		return
	}
	b.last = time.Now()
	const width = 30
	frac := 1.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	filled := int(frac * width)
	what := fmt.Sprintf("%s %d/%d", p.Table, p.Rows, p.TableRows)
	switch {
	case p.Verifying:
		what = "verifying"
	case p.Enqueueing:
		what = "re-creating pending work"
	}
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %-40s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, what)
	b.drew = true
}

func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drew {
		fmt.Fprintln(b.w)
	}
}
