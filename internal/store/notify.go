package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channels of the notifications nodes on one PostgreSQL database exchange. Their
// payloads name the schema, so that databases shared by several installations (or
// tests) keep to their own.
const (
	channelCatalog = "watan_catalog" // payload: the schema (migration 0018's triggers)
	channelCircuit = "watan_circuit" // payload: circuitNotice as JSON
)

type circuitNotice struct {
	Schema  string    `json:"schema"`
	Account int64     `json:"account"`
	Until   time.Time `json:"until"`
	Reason  string    `json:"reason"`
}

// Changes is what ListenChanges tells of other processes' changes.
type Changes struct {
	// Catalog: packages, mappings or provider accounts changed; also called
	// whenever listening (re)starts, as changes may have been missed.
	Catalog func()
	// CircuitOpen: a node's breaker of the provider account opened until until.
	CircuitOpen func(providerAccountID int64, until time.Time, reason string)
}

// AnnounceCircuitOpen tells every node listening on the database that the provider
// account's circuit opened here. Nothing on SQLite: one process is all there is.
func (s *Store) AnnounceCircuitOpen(ctx context.Context, providerAccountID int64, until time.Time, reason string) error {
	if s.engine != EnginePostgres {
		return nil
	}
	if len(reason) > 1000 {
		reason = truncate(reason, 1000) // a notification's payload is bounded
	}
	b, err := json.Marshal(circuitNotice{Account: providerAccountID, Until: until.UTC(), Reason: reason})
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `SELECT pg_notify($1, jsonb_set($2::jsonb, '{schema}', to_jsonb(current_schema()))::text)`,
		channelCircuit, string(b)); err != nil {
		return fmt.Errorf("store: announce circuit of provider account %d: %w", providerAccountID, err)
	}
	return nil
}

// ListenChanges listens for other processes' changes on a connection of its own
// until ctx ends, reconnecting a second after a failure. It returns at once on
// SQLite, where there are no other processes.
func (s *Store) ListenChanges(ctx context.Context, h Changes) {
	if s.engine != EnginePostgres {
		return
	}
	for ctx.Err() == nil {
		if err := s.listenOnce(ctx, h); err != nil && ctx.Err() == nil {
			s.logger.DebugContext(ctx, "listening for changes", "err", err)
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Store) listenOnce(ctx context.Context, h Changes) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	for _, ch := range []string{channelCatalog, channelCircuit} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	if h.Catalog != nil {
		h.Catalog()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case channelCatalog:
			if strings.TrimSpace(n.Payload) == schema && h.Catalog != nil {
				h.Catalog()
			}
		case channelCircuit:
			var c circuitNotice
			if json.Unmarshal([]byte(n.Payload), &c) == nil && c.Schema == schema && h.CircuitOpen != nil {
				h.CircuitOpen(c.Account, c.Until, c.Reason)
			}
		}
	}
}
