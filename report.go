package watan

import (
	"context"
	"fmt"
	"time"
)

// ReportBy is what a report's rows are: days, provider accounts, packages or
// customer accounts.
type ReportBy string

// Report groupings.
const (
	ReportByDay      ReportBy = "day"
	ReportByProvider ReportBy = "provider"
	ReportByPackage  ReportBy = "package"
	ReportByAccount  ReportBy = "account"
)

// Valid reports whether b is a known grouping.
func (b ReportBy) Valid() bool {
	return b == ReportByDay || b == ReportByProvider || b == ReportByPackage || b == ReportByAccount
}

// MaxReportDays bounds a report's date range.
const MaxReportDays = 366

// ReportQuery selects a report: orders created from the first moment of day From
// to the last of day To, both in the tenant's time zone, grouped By.
type ReportQuery struct {
	TenantID int64
	From, To Date
	By       ReportBy
}

// Date is a calendar day, "2026-12-01".
type Date struct{ Y, M, D int }

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, Errorf(ECodeValidation, "date %q is not YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf is t's calendar day where t is.
func DateOf(t time.Time) Date { return Date{t.Year(), int(t.Month()), t.Day()} }

// Start is the day's first moment in loc.
func (d Date) Start(loc *time.Location) time.Time {
	return time.Date(d.Y, time.Month(d.M), d.D, 0, 0, 0, 0, loc)
}

// AddDays is d moved by n days.
func (d Date) AddDays(n int) Date { return DateOf(d.Start(time.UTC).AddDate(0, 0, n)) }

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Y, d.M, d.D) }

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ReportRow is one day, provider account, package or customer account of a
// report. Money is in the report's base currency and counts only figures frozen at
// approval; approved orders without them (frozen in another base currency, or not
// convertible) are counted in Unfrozen and left out of the money.
type ReportRow struct {
	Key      string `json:"key"`   // the day, or the provider account id, package code, account code
	Label    string `json:"label"` // the provider account's name; else the key
	Orders   int    `json:"orders"`
	Approved int    `json:"approved"`
	Rejected int    `json:"rejected"`
	Pending  int    `json:"pending"`
	Sales    Amount `json:"sales"`
	Cost     Amount `json:"cost"`
	Profit   Amount `json:"profit"`
	// MarginPct is profit over sales in percent with two decimals ("" without sales).
	MarginPct string `json:"margin_pct"`
	// AvgSecondsToPIN is the mean time from creation to approval of the approved
	// orders, in seconds with one decimal ("" without any).
	AvgSecondsToPIN string `json:"avg_seconds_to_pin"`
	Unfrozen        int    `json:"unfrozen"`

	pinMicros int64
}

// Add counts one order into the row.
func (r *ReportRow) Add(o ReportOrder, base string) {
	r.Orders++
	switch o.Status {
	case StatusApproved:
		r.Approved++
		if o.CompletedAt != nil {
			r.pinMicros += o.CompletedAt.Sub(o.CreatedAt).Microseconds()
		}
		if o.Profit == nil || o.Profit.BaseCurrency != base {
			r.Unfrozen++
			return
		}
		r.Sales += o.Profit.Sell
		r.Cost += o.Profit.Cost
		r.Profit += o.Profit.Profit
	case StatusRejected:
		r.Rejected++
	default:
		r.Pending++
	}
}

// Finish computes the row's ratios.
func (r *ReportRow) Finish() {
	r.MarginPct, r.AvgSecondsToPIN = "", ""
	if r.Sales != 0 {
		r.MarginPct = ratio(int64(r.Profit)*10000, int64(r.Sales), 2)
	}
	if r.Approved > 0 {
		r.AvgSecondsToPIN = ratio(r.pinMicros, int64(r.Approved)*100_000, 1)
	}
}

// ratio formats num/den, which carries places decimals, rounded half away from
// zero.
func ratio(num, den int64, places int) string {
	q, err := Convert(Amount(num), Rate(den), 1)
	if err != nil {
		return ""
	}
	v := int64(q)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	p := int64(1)
	for range places {
		p *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, v/p, places, v%p)
}

// ReportOrder is what a report reads of one order.
type ReportOrder struct {
	CreatedAt         time.Time
	CompletedAt       *time.Time
	Status            Status
	ProviderAccountID int64
	ProviderName      string
	PackageCode       string
	AccountCode       string
	Profit            *ProfitSnapshot
}

// Report is a tenant's sales over a date range.
type Report struct {
	BaseCurrency string      `json:"base_currency"`
	TimeZone     string      `json:"time_zone"`
	From         Date        `json:"from"`
	To           Date        `json:"to"`
	By           ReportBy    `json:"by"`
	Rows         []ReportRow `json:"rows"`
	Total        ReportRow   `json:"total"`
}

// Statement is a customer account's ledger over a date range: the balance before
// it, every entry in it, oldest first, and the balance after it. Opening plus the
// entries' amounts is Closing; with a range up to now, Closing is the balance.
type Statement struct {
	Account  string        `json:"account"`
	Currency string        `json:"currency"`
	TimeZone string        `json:"time_zone"`
	From     Date          `json:"from"`
	To       Date          `json:"to"`
	Opening  Amount        `json:"opening_balance"`
	Entries  []LedgerEntry `json:"entries"`
	Closing  Amount        `json:"closing_balance"`
	// Balance is the account's balance as the statement was read.
	Balance Amount `json:"balance"`
}

// MaxStatementEntries bounds one statement.
const MaxStatementEntries = 100_000

// ReportService reads reports and statements.
type ReportService interface {
	Report(ctx context.Context, q ReportQuery) (Report, error)
	Statement(ctx context.Context, tenantID int64, accountCode string, from, to Date) (Statement, error)
}

// UnmarshalText reads YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
