package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"watan"
)

// Reports and statements. Both read only what was frozen when it happened (the
// profit snapshot taken at approval, the ledger's entries), so a later price or
// rate change never rewrites them.

// snapshotTx runs fn in a transaction that sees one snapshot of the database:
// REPEATABLE READ on PostgreSQL; SQLite's transactions are serialised anyway.
func (s *Store) snapshotTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		if s.engine == EnginePostgres {
			if _, err := tx.ExecContext(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`); err != nil {
				return fmt.Errorf("store: snapshot: %w", err)
			}
		}
		return fn(tx)
	})
}

// dateRange checks a range of days and returns it in UTC, from the first moment
// of from to the first moment after to, in loc.
func dateRange(from, to watan.Date, loc *time.Location) (time.Time, time.Time, error) {
	if from.IsZero() || to.IsZero() {
		return time.Time{}, time.Time{}, watan.Errorf(watan.ECodeValidation, "from and to are required")
	}
	start, end := from.Start(loc), to.AddDays(1).Start(loc)
	if !start.Before(end) {
		return time.Time{}, time.Time{}, watan.Errorf(watan.ECodeValidation, "from %s is after to %s", from, to)
	}
	if end.Sub(start) > (watan.MaxReportDays+1)*24*time.Hour {
		return time.Time{}, time.Time{}, watan.Errorf(watan.ECodeValidation, "a range is at most %d days", watan.MaxReportDays)
	}
	return start.UTC(), end.UTC(), nil
}

func (s *Store) location(ctx context.Context, q querier, tenantID int64) (watan.TenantSettings, *time.Location, error) {
	var ts watan.TenantSettings
	err := q.QueryRowContext(ctx, `SELECT base_currency, time_zone FROM tenants WHERE id = $1`, tenantID).
		Scan(&ts.BaseCurrency, &ts.TimeZone)
	if isNoRows(err) {
		return ts, nil, errNotFound("tenant", tenantID)
	}
	if err != nil {
		return ts, nil, fmt.Errorf("store: tenant settings: %w", err)
	}
	loc, err := time.LoadLocation(ts.TimeZone)
	if err != nil {
		return ts, nil, fmt.Errorf("store: tenant %d time zone %q: %w", tenantID, ts.TimeZone, err)
	}
	return ts, loc, nil
}

// Report implements watan.ReportService. Orders count on the day (in the tenant's
// time zone) they were created; their money is the snapshot frozen at approval.
// The orders of the range are read and summed here rather than grouped in SQL,
// because SQLite cannot group by day in a named time zone; a range reads one
// narrow row per order through the (tenant, created_at) index.
func (s *Store) Report(ctx context.Context, q watan.ReportQuery) (watan.Report, error) {
	if q.By == "" {
		q.By = watan.ReportByDay
	}
	if !q.By.Valid() {
		return watan.Report{}, watan.Errorf(watan.ECodeValidation, "by %q is not day, provider, package or account", q.By)
	}
	ts, loc, err := s.location(ctx, s.db, q.TenantID)
	if err != nil {
		return watan.Report{}, err
	}
	start, end, err := dateRange(q.From, q.To, loc)
	if err != nil {
		return watan.Report{}, err
	}
	rep := watan.Report{BaseCurrency: ts.BaseCurrency, TimeZone: ts.TimeZone, From: q.From, To: q.To, By: q.By}
	rows := map[string]*watan.ReportRow{}
	if q.By == watan.ReportByDay {
		// Every day of the range has a row, orders or not: a chart needs them.
		for d := q.From; !d.Start(loc).After(q.To.Start(loc)); d = d.AddDays(1) {
			rows[d.String()] = &watan.ReportRow{Key: d.String(), Label: d.String()}
		}
	}
	err = s.eachReportOrder(ctx, q.TenantID, start, end, func(o watan.ReportOrder) {
		key, label := reportKey(o, q.By, loc)
		r := rows[key]
		if r == nil {
			r = &watan.ReportRow{Key: key, Label: label}
			rows[key] = r
		}
		r.Add(o, ts.BaseCurrency)
		rep.Total.Add(o, ts.BaseCurrency)
	})
	if err != nil {
		return watan.Report{}, err
	}
	rep.Rows = make([]watan.ReportRow, 0, len(rows))
	for _, r := range rows {
		r.Finish()
		rep.Rows = append(rep.Rows, *r)
	}
	slices.SortFunc(rep.Rows, func(a, b watan.ReportRow) int {
		if q.By == watan.ReportByProvider {
			ai, _ := strconv.ParseInt(a.Key, 10, 64)
			bi, _ := strconv.ParseInt(b.Key, 10, 64)
			return int(ai - bi)
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	rep.Total.Key, rep.Total.Label = "total", "total"
	rep.Total.Finish()
	return rep, nil
}

func reportKey(o watan.ReportOrder, by watan.ReportBy, loc *time.Location) (string, string) {
	switch by {
	case watan.ReportByProvider:
		if o.ProviderAccountID == 0 {
			return "0", "-"
		}
		return strconv.FormatInt(o.ProviderAccountID, 10), o.ProviderName
	case watan.ReportByPackage:
		return o.PackageCode, o.PackageCode
	case watan.ReportByAccount:
		return o.AccountCode, o.AccountCode
	}
	d := watan.DateOf(o.CreatedAt.In(loc)).String()
	return d, d
}

func (s *Store) eachReportOrder(ctx context.Context, tenantID int64, start, end time.Time, fn func(watan.ReportOrder)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT o.created_at, o.completed_at, o.status, COALESCE(o.provider_account_id, 0),
			COALESCE(pa.name, ''), p.code, a.code, o.base_currency, o.sell_base, o.cost_base, o.frozen_at
		FROM orders o JOIN packages p ON p.id = o.package_id JOIN accounts a ON a.id = o.account_id
			LEFT JOIN provider_accounts pa ON pa.id = o.provider_account_id
		WHERE o.tenant_id = $1 AND o.created_at >= $2 AND o.created_at < $3`, tenantID, s.ts(start), s.ts(end))
	if err != nil {
		return fmt.Errorf("store: report: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			o          watan.ReportOrder
			base       string
			sell, cost sql.NullInt64
			frozen     *time.Time
		)
		if err := rows.Scan(timeCol{&o.CreatedAt}, nullTimeCol{&o.CompletedAt}, &o.Status, &o.ProviderAccountID,
			&o.ProviderName, &o.PackageCode, &o.AccountCode, &base, &sell, &cost, nullTimeCol{&frozen}); err != nil {
			return fmt.Errorf("store: report: %w", err)
		}
		if frozen != nil {
			o.Profit = &watan.ProfitSnapshot{BaseCurrency: base, Sell: watan.Amount(sell.Int64), Cost: watan.Amount(cost.Int64),
				Profit: watan.Amount(sell.Int64 - cost.Int64), FrozenAt: *frozen}
		}
		fn(o)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: report: %w", err)
	}
	return nil
}

// Statement implements watan.ReportService. The opening balance is the sum of the
// account's entries before the range (the ledger sums to the balance, so this is
// the balance then); the closing balance is the opening plus the range's
// entries. All three reads share one snapshot, so a statement up to today closes
// at exactly the balance it shows.
func (s *Store) Statement(ctx context.Context, tenantID int64, code string, from, to watan.Date) (watan.Statement, error) {
	var st watan.Statement
	err := s.snapshotTx(ctx, func(tx *sql.Tx) error {
		ts, loc, err := s.location(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		start, end, err := dateRange(from, to, loc)
		if err != nil {
			return err
		}
		a, err := findAccount(ctx, tx, tenantID, code)
		if err != nil {
			return err
		}
		st = watan.Statement{Account: a.Code, Currency: a.Currency, TimeZone: ts.TimeZone, From: from, To: to, Balance: a.Balance}
		var opening int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM ledger_entries
			WHERE tenant_id = $1 AND account_id = $2 AND created_at < $3`, tenantID, a.ID, s.ts(start)).Scan(&opening); err != nil {
			return fmt.Errorf("store: statement: %w", err)
		}
		st.Opening = watan.Amount(opening)
		st.Entries, err = list(ctx, tx, "statement", func(r rowScanner) (watan.LedgerEntry, error) {
			var e watan.LedgerEntry
			err := r.Scan(&e.ID, &e.TenantID, &e.AccountID, &e.OrderID, &e.Kind, &e.Amount, &e.BalanceAfter, &e.Note,
				timeCol{&e.CreatedAt})
			return e, err
		}, `SELECT id, tenant_id, account_id, COALESCE(order_id, 0), kind, amount, balance_after, note, created_at
			FROM ledger_entries WHERE tenant_id = $1 AND account_id = $2 AND created_at >= $3 AND created_at < $4
			ORDER BY created_at, id LIMIT $5`, tenantID, a.ID, s.ts(start), s.ts(end), watan.MaxStatementEntries+1)
		if err != nil {
			return err
		}
		if len(st.Entries) > watan.MaxStatementEntries {
			return watan.Errorf(watan.ECodeValidation, "the range holds more than %d entries: choose a shorter one", watan.MaxStatementEntries)
		}
		st.Closing = st.Opening
		for _, e := range st.Entries {
			st.Closing += e.Amount
		}
		return nil
	})
	return st, err
}
