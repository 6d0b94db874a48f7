package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"

	"watan"
)

// maxBalance bounds a balance so that no sum of entries can overflow int64.
const maxBalance = 1000 * watan.MaxAmount

const accountColumns = `id, tenant_id, code, name, currency, balance, overdraft_limit, created_at, updated_at,
	COALESCE(price_group_id, 0), COALESCE((SELECT g.name FROM price_groups g WHERE g.id = accounts.price_group_id), '')`

func scanAccount(r rowScanner) (watan.Account, error) {
	var a watan.Account
	err := r.Scan(&a.ID, &a.TenantID, &a.Code, &a.Name, &a.Currency, &a.Balance, &a.OverdraftLimit,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, &a.PriceGroupID, &a.PriceGroup)
	return a, err
}

// CreateAccount creates a customer account with a zero balance. Codes are unique per
// tenant.
func (s *Store) CreateAccount(ctx context.Context, tenantID int64, n watan.NewAccount) (watan.Account, error) {
	if err := checkCode("code", n.Code); err != nil {
		return watan.Account{}, err
	}
	name := n.Name
	if name == "" {
		name = n.Code
	}
	if err := checkName("name", name); err != nil {
		return watan.Account{}, err
	}
	cur, err := normCurrency(n.Currency)
	if err != nil {
		return watan.Account{}, err
	}
	if err := checkAmount("overdraft_limit", n.OverdraftLimit); err != nil {
		return watan.Account{}, err
	}
	now := s.now()
	a := watan.Account{TenantID: tenantID, Code: n.Code, Name: name, Currency: cur,
		OverdraftLimit: n.OverdraftLimit, CreatedAt: now, UpdatedAt: now, PriceGroup: n.PriceGroup}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, tenantID); err != nil {
			return err
		}
		if n.PriceGroup != "" {
			g, err := findPriceGroup(ctx, tx, tenantID, n.PriceGroup)
			if err != nil {
				return err
			}
			a.PriceGroupID = g.ID
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO accounts
			(tenant_id, code, name, currency, balance, overdraft_limit, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 0, $5, $6, $6) RETURNING id`,
			tenantID, a.Code, a.Name, a.Currency, int64(a.OverdraftLimit), s.ts(now)).Scan(&a.ID)
		if err == nil && a.PriceGroupID != 0 {
			_, err = tx.ExecContext(ctx, `UPDATE accounts SET price_group_id = $1 WHERE id = $2`, a.PriceGroupID, a.ID)
		}
		if isUniqueViolation(err) {
			return watan.Errorf(watan.ECodeConflict, "an account with code %q already exists", n.Code)
		}
		if err != nil {
			return fmt.Errorf("store: create account: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.Account{}, err
	}
	return a, nil
}

// FindAccount returns the tenant's account with code, or an ECodeNotFound error.
func (s *Store) FindAccount(ctx context.Context, tenantID int64, code string) (watan.Account, error) {
	return findAccount(ctx, s.db, tenantID, code)
}

func findAccount(ctx context.Context, q querier, tenantID int64, code string) (watan.Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM accounts WHERE tenant_id = $1 AND code = $2`, tenantID, code))
	if isNoRows(err) {
		return watan.Account{}, errNotFound("account", code)
	}
	if err != nil {
		return watan.Account{}, fmt.Errorf("store: find account: %w", err)
	}
	return a, nil
}

// ListAccounts returns the tenant's accounts ordered by code.
func (s *Store) ListAccounts(ctx context.Context, tenantID int64) ([]watan.Account, error) {
	return list(ctx, s.db, "list accounts", scanAccount,
		`SELECT `+accountColumns+` FROM accounts WHERE tenant_id = $1 ORDER BY code`, tenantID)
}

// ListAccountsPage implements watan.AccountService: pages are keyed on the code,
// which is unique in the tenant and never changes.
func (s *Store) ListAccountsPage(ctx context.Context, tenantID int64, limit int, cursor string) ([]watan.Account, string, error) {
	size := pageSize(limit, MaxPage)
	var after string
	if cursor != "" {
		var err error
		if after, err = decodeTextCursor("acct", cursor); err != nil {
			return nil, "", err
		}
	}
	as, err := list(ctx, s.db, "list accounts", scanAccount, `SELECT `+accountColumns+` FROM accounts
		WHERE tenant_id = $1 AND code > $2 ORDER BY code LIMIT $3`, tenantID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	as, next := cutPage(as, size, "acct", func(a watan.Account) string { return a.Code })
	return as, next, nil
}

// TopUp credits amount to the account and records it in the ledger, in one
// transaction.
func (s *Store) TopUp(ctx context.Context, tenantID int64, code string, amount watan.Amount, note string) (watan.LedgerEntry, error) {
	if amount <= 0 || amount > watan.MaxAmount {
		return watan.LedgerEntry{}, watan.Errorf(watan.ECodeValidation, "amount must be between 0.01 and %s", watan.MaxAmount)
	}
	if len(note) > watan.MaxNoteLen {
		return watan.LedgerEntry{}, watan.Errorf(watan.ECodeValidation, "note must be at most %d bytes", watan.MaxNoteLen)
	}
	now := s.now()
	e := watan.LedgerEntry{TenantID: tenantID, Kind: watan.LedgerTopUp, Amount: amount, Note: note, CreatedAt: now}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		// The increment happens in the UPDATE itself, so concurrent top-ups and
		// debits never lose one another's change.
		err := tx.QueryRowContext(ctx, `UPDATE accounts SET balance = balance + $1, updated_at = $2
			WHERE tenant_id = $3 AND code = $4 AND balance <= $5
			RETURNING id, balance`,
			int64(amount), s.ts(now), tenantID, code, int64(maxBalance-amount)).Scan(&e.AccountID, &e.BalanceAfter)
		if isNoRows(err) {
			if _, err := findAccount(ctx, tx, tenantID, code); err != nil {
				return err
			}
			return watan.Errorf(watan.ECodeValidation, "the balance would exceed %s", maxBalance)
		}
		if err != nil {
			return fmt.Errorf("store: top up: %w", err)
		}
		return s.insertLedger(ctx, tx, &e)
	})
	if err != nil {
		return watan.LedgerEntry{}, err
	}
	return e, nil
}

// insertLedger appends e, whose balance change the caller has already applied in
// the same transaction, and sets its ID.
func (s *Store) insertLedger(ctx context.Context, tx *sql.Tx, e *watan.LedgerEntry) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO ledger_entries
		(tenant_id, account_id, order_id, kind, amount, balance_after, note, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		e.TenantID, e.AccountID, nullID(e.OrderID), string(e.Kind), int64(e.Amount), int64(e.BalanceAfter),
		e.Note, s.ts(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("store: insert ledger entry: %w", err)
	}
	return nil
}

// Ledger lists one page of the account's entries newest first: at most q.Limit,
// default 100, at most 1000, before q.Cursor. Pages are keyed on the entry id, so
// a walk to the end stays stable while entries are added.
func (s *Store) Ledger(ctx context.Context, tenantID int64, code string, q watan.LedgerQuery) (watan.LedgerPage, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	before := int64(math.MaxInt64)
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		id, perr := strconv.ParseInt(strings.TrimPrefix(string(b), "l."), 10, 64)
		if err != nil || perr != nil || !strings.HasPrefix(string(b), "l.") || id <= 0 {
			return watan.LedgerPage{}, watan.Errorf(watan.ECodeValidation, "cursor is not valid")
		}
		before = id
	}
	a, err := s.FindAccount(ctx, tenantID, code)
	if err != nil {
		return watan.LedgerPage{}, err
	}
	es, err := list(ctx, s.db, "ledger", func(r rowScanner) (watan.LedgerEntry, error) {
		var e watan.LedgerEntry
		err := r.Scan(&e.ID, &e.TenantID, &e.AccountID, &e.OrderID, &e.Kind, &e.Amount, &e.BalanceAfter, &e.Note,
			timeCol{&e.CreatedAt})
		return e, err
	}, `SELECT id, tenant_id, account_id, COALESCE(order_id, 0), kind, amount, balance_after, note, created_at
		FROM ledger_entries WHERE tenant_id = $1 AND account_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
		tenantID, a.ID, before, limit+1)
	if err != nil {
		return watan.LedgerPage{}, err
	}
	page := watan.LedgerPage{Entries: es}
	if len(es) > limit {
		page.Entries = es[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "l.%d", es[limit-1].ID))
	}
	return page, nil
}
