package watan

import (
	"context"
	"time"
)

// Account is a customer of a tenant who pays for orders from a balance. The balance may
// go below zero down to -OverdraftLimit, never further. It changes only through ledger
// entries written in the same transaction, so the ledger always sums to the balance.
type Account struct {
	ID             int64  `json:"id"`
	TenantID       int64  `json:"-"`
	Code           string `json:"code"` // the tenant's own identifier, unique per tenant
	Name           string `json:"name"`
	Currency       string `json:"currency"`
	Balance        Amount `json:"balance"`
	OverdraftLimit Amount `json:"overdraft_limit"`
	// PriceGroup names the account's price group; empty for the default prices.
	PriceGroup   string    `json:"price_group,omitempty"`
	PriceGroupID int64     `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// LedgerKind says why a balance changed.
type LedgerKind string

// Ledger kinds.
const (
	LedgerTopUp   LedgerKind = "topup"   // money added by the tenant
	LedgerDebit   LedgerKind = "debit"   // an order was created
	LedgerRefund  LedgerKind = "refund"  // an order was rejected
	LedgerRedebit LedgerKind = "redebit" // a rejected order was approved after all
)

// LedgerEntry is one change of an account's balance. Amount is signed: debits are
// negative. BalanceAfter is the balance right after this entry.
type LedgerEntry struct {
	ID           int64      `json:"id"`
	TenantID     int64      `json:"-"`
	AccountID    int64      `json:"account_id"`
	OrderID      int64      `json:"order_id,omitempty"`
	Kind         LedgerKind `json:"kind"`
	Amount       Amount     `json:"amount"`
	BalanceAfter Amount     `json:"balance_after"`
	Note         string     `json:"note,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// NewAccount is the input to CreateAccount.
type NewAccount struct {
	Code           string `json:"code"`
	Name           string `json:"name"`
	Currency       string `json:"currency"`
	OverdraftLimit Amount `json:"overdraft_limit"`
	// PriceGroup puts the account in a price group (by name); empty for defaults.
	PriceGroup string `json:"price_group,omitempty"`
}

// AccountService manages customer accounts and their ledgers.
type AccountService interface {
	CreateAccount(ctx context.Context, tenantID int64, a NewAccount) (Account, error)
	FindAccount(ctx context.Context, tenantID int64, code string) (Account, error)
	ListAccounts(ctx context.Context, tenantID int64) ([]Account, error)
	// ListAccountsPage returns one page of the tenant's accounts ordered by code:
	// at most limit (default and most 1000) after cursor, a previous page's next
	// cursor ("" for the first page, and on the last page).
	ListAccountsPage(ctx context.Context, tenantID int64, limit int, cursor string) (accounts []Account, next string, err error)
	// TopUp adds amount (> 0) to the balance through a ledger entry.
	TopUp(ctx context.Context, tenantID int64, code string, amount Amount, note string) (LedgerEntry, error)
	// Ledger lists one page of the account's entries, newest first.
	Ledger(ctx context.Context, tenantID int64, code string, q LedgerQuery) (LedgerPage, error)
}

// LedgerQuery selects a page of a ledger.
type LedgerQuery struct {
	Limit int // default 100, at most 1000
	// Cursor continues a listing: a previous page's NextCursor.
	Cursor string
}

// LedgerPage is one page of a ledger, newest first. Following NextCursor to the
// end lists every entry that existed when the first page was read exactly once;
// entries added meanwhile are newer and belong before the first page.
type LedgerPage struct {
	Entries    []LedgerEntry `json:"entries"`
	NextCursor string        `json:"next_cursor,omitempty"`
}
