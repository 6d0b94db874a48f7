package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// warmStatement names the tables every order touches on its way from creation
// to a final state. Planning it opens each table and its indexes; it reads no
// rows.
const warmStatement = `EXPLAIN SELECT 1 FROM orders, order_events, accounts, ledger_entries,
	packages, tenants, provider_accounts, mappings, api_keys, river_job WHERE false`

// Warm opens the PostgreSQL pool's connections before the first requests need
// them, and has each load what a backend otherwise loads on its first statement
// against a table: the catalogue entries of the table and of its indexes. A new
// backend spends milliseconds on that per table (orders has a dozen indexes),
// and a pool that opens its connections under the first burst of orders makes
// that burst wait: at an offered 100 orders a second, the first second and a
// half after start saw created → provider call latencies up to 700 ms, where a
// warm pool keeps p99 under 20 ms. On SQLite Warm does nothing: Open has opened
// its one connection.
//
// Call it after Migrate and before work starts: it holds every connection of
// the pool at once, briefly, so it waits for any connection in use elsewhere.
func (s *Store) Warm(ctx context.Context) error {
	if s.engine != EnginePostgres {
		return nil
	}
	n := s.db.Stats().MaxOpenConnections
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	ready.Add(n)
	for i := range n {
		done.Go(func() {
			c, err := s.db.Conn(ctx)
			if err == nil {
				_, err = c.ExecContext(ctx, warmStatement)
			}
			// Hold the connection until every goroutine has one, so that each
			// opens a connection of its own instead of reusing a warm one.
			ready.Done()
			ready.Wait()
			if c != nil {
				c.Close()
			}
			errs[i] = err
		})
	}
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: warm the pool: %w", err)
	}
	return nil
}
