package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"watan"
)

// On PostgreSQL a transition's timeline entries are not sent one statement each:
// every round trip to the server costs a context switch on both sides, and a
// transition writes up to three entries (what happened, the status change, the
// money moved). The entries written in a transaction begun by InTx wait here and go
// to the server with the order's save, in the same statement (SaveOrderTx), or else
// in one statement just before the commit. They are rows like any other of the
// transaction: a rollback drops them with the rest.
//
// SQLite runs in the process and has no round trips to save; its entries are
// inserted at once.

// txEvents is the timeline entries waiting in the transactions begun by InTx.
type txEvents struct {
	mu sync.Mutex
	m  map[*sql.Tx]*[]watan.OrderEvent
}

func (t *txEvents) begin(tx *sql.Tx) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[*sql.Tx]*[]watan.OrderEvent{}
	}
	t.m[tx] = new([]watan.OrderEvent)
}

// end forgets tx's entries and returns those that were left.
func (t *txEvents) end(tx *sql.Tx) []watan.OrderEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.m[tx]
	delete(t.m, tx)
	if p == nil {
		return nil
	}
	return *p
}

// add keeps e for tx, reporting false if tx was not begun by InTx.
func (t *txEvents) add(tx *sql.Tx, e watan.OrderEvent) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.m[tx]
	if p == nil {
		return false
	}
	*p = append(*p, e)
	return true
}

// take removes and returns tx's entries about the tenant's order, in the order they
// were added.
func (t *txEvents) take(tx *sql.Tx, tenantID, orderID int64) []watan.OrderEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.m[tx]
	if p == nil {
		return nil
	}
	var mine []watan.OrderEvent
	*p = slices.DeleteFunc(*p, func(e watan.OrderEvent) bool {
		if e.TenantID == tenantID && e.OrderID == orderID {
			mine = append(mine, e)
			return true
		}
		return false
	})
	return mine
}

// addEventTx appends e to its order's timeline in tx: at once, or, on PostgreSQL in
// a transaction begun by InTx, with the order's save or at the commit.
func (s *Store) addEventTx(ctx context.Context, tx *sql.Tx, e watan.OrderEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.Message = truncate(e.Message, 2000)
	if s.engine == EnginePostgres && s.events.add(tx, e) {
		return nil
	}
	return s.insertEvent(ctx, tx, &e)
}

// eventArrays are timeline entries as the parallel arrays a statement unnests.
type eventArrays struct {
	tenant, order        []int64
	at                   []time.Time
	actor, kind, message []string
	data                 []*string
	code                 []string
	params               []*string
}

func newEventArrays(evs []watan.OrderEvent) (eventArrays, error) {
	var a eventArrays
	for _, e := range evs {
		data, err := optionalJSON(e.Data)
		if err != nil {
			return a, err
		}
		params, err := optionalJSON(e.Params)
		if err != nil {
			return a, err
		}
		a.tenant, a.order = append(a.tenant, e.TenantID), append(a.order, e.OrderID)
		a.at = append(a.at, e.At.UTC().Truncate(time.Microsecond))
		a.actor, a.kind, a.message = append(a.actor, string(e.Actor)), append(a.kind, string(e.Kind)), append(a.message, e.Message)
		a.data, a.code, a.params = append(a.data, data), append(a.code, e.Code), append(a.params, params)
	}
	return a, nil
}

// optionalJSON is m as JSON, or nil for an empty map (NULL).
func optionalJSON(m map[string]string) (*string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	j, err := jsonArg(m)
	return &j, err
}

// flushEvents inserts the entries left in tx, in one statement.
func (s *Store) flushEvents(ctx context.Context, tx *sql.Tx, evs []watan.OrderEvent) error {
	if len(evs) == 0 {
		return nil
	}
	a, err := newEventArrays(evs)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO order_events (tenant_id, order_id, at, actor, kind, message, data, code, params)
		SELECT e.tenant_id, e.order_id, e.at, e.actor, e.kind, e.message, e.data::jsonb, e.code, e.params::jsonb
		FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
			WITH ORDINALITY AS e(tenant_id, order_id, at, actor, kind, message, data, code, params, n)
		ORDER BY e.n`,
		a.tenant, a.order, a.at, a.actor, a.kind, a.message, a.data, a.code, a.params)
	if err != nil {
		return fmt.Errorf("store: insert order events: %w", err)
	}
	return nil
}
