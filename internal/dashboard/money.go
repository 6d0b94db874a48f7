package dashboard

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"watan"
)

// Money is what the reports and statement pages read, and the rate form writes;
// *store.Store satisfies it. Every method answers only about the tenant given.
type Money interface {
	Report(ctx context.Context, q watan.ReportQuery) (watan.Report, error)
	Statement(ctx context.Context, tenantID int64, accountCode string, from, to watan.Date) (watan.Statement, error)
	TenantSettings(ctx context.Context, tenantID int64) (watan.TenantSettings, error)
	CurrentRates(ctx context.Context, tenantID int64) (watan.Rates, error)
	ExchangeRateHistory(ctx context.Context, tenantID int64, limit int) ([]watan.ExchangeRate, error)
	SetExchangeRate(ctx context.Context, tenantID int64, currency string, rate watan.Rate, setBy string) (watan.ExchangeRate, error)
	ProviderBalanceHistory(ctx context.Context, tenantID, providerAccountID int64, limit int) ([]watan.BalancePoint, error)
}

// balancesShown is how many recorded balances the providers page lists per account.
const balancesShown = 10

// reportDays is the reports page's default range: the 14 days up to today.
const reportDays = 14

// maxRateHistory is how many recorded rates the reports page lists.
const maxRateHistory = 10

type reportData struct {
	Report   watan.Report
	Max      watan.Amount // the highest daily sales, the chart's full height
	ByDay    bool
	Query    string // from, to and by, for the CSV link
	Rates    []rateRow
	History  []watan.ExchangeRate
	Byes     []watan.ReportBy
	Currency string
}

type rateRow struct {
	Currency string
	Rate     watan.Rate
}

type statementData struct {
	Statement watan.Statement
	Code      string
	Query     string
}

// rangeOf reads from and to (YYYY-MM-DD in the tenant's time zone) with their
// defaults: the days days up to today.
func (h *Handler) rangeOf(r *http.Request, tenantID int64, days int) (from, to watan.Date, err error) {
	ts, err := h.money.TenantSettings(r.Context(), tenantID)
	if err != nil {
		return from, to, err
	}
	loc, err := time.LoadLocation(ts.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	to = watan.DateOf(h.clock.Now().In(loc))
	if s := r.URL.Query().Get("to"); s != "" {
		if to, err = watan.ParseDate(s); err != nil {
			return from, to, err
		}
	}
	from = to.AddDays(1 - days)
	if s := r.URL.Query().Get("from"); s != "" {
		if from, err = watan.ParseDate(s); err != nil {
			return from, to, err
		}
	}
	return from, to, nil
}

func (h *Handler) reports(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	tid := s.User.TenantID
	from, to, err := h.rangeOf(r, tid, reportDays)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	by := watan.ReportBy(r.URL.Query().Get("by"))
	if by == "" {
		by = watan.ReportByDay
	}
	rep, err := h.money.Report(r.Context(), watan.ReportQuery{TenantID: tid, From: from, To: to, By: by})
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		reportCSV(w, rep)
		return
	}
	rates, err := h.money.CurrentRates(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	hist, err := h.money.ExchangeRateHistory(r.Context(), tid, maxRateHistory)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	d := reportData{Report: rep, ByDay: by == watan.ReportByDay, History: hist, Currency: rates.Base,
		Byes:  []watan.ReportBy{watan.ReportByDay, watan.ReportByProvider, watan.ReportByPackage, watan.ReportByAccount},
		Query: url.Values{"from": {from.String()}, "to": {to.String()}, "by": {string(by)}}.Encode()}
	for _, row := range rep.Rows {
		d.Max = max(d.Max, row.Sales)
	}
	for c, v := range rates.Rates {
		d.Rates = append(d.Rates, rateRow{c, v})
	}
	h.render(w, r, s, http.StatusOK, "reports", "title.reports", d)
}

func reportCSV(w http.ResponseWriter, rep watan.Report) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="report-`+string(rep.By)+"-"+rep.From.String()+"-"+rep.To.String()+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{string(rep.By), "label", "orders", "approved", "rejected", "pending", "sales_" + rep.BaseCurrency,
		"cost_" + rep.BaseCurrency, "profit_" + rep.BaseCurrency, "margin_pct", "avg_seconds_to_pin", "unfrozen"})
	for _, row := range append(rep.Rows, rep.Total) {
		cw.Write([]string{row.Key, row.Label, strconv.Itoa(row.Orders), strconv.Itoa(row.Approved), strconv.Itoa(row.Rejected),
			strconv.Itoa(row.Pending), row.Sales.String(), row.Cost.String(), row.Profit.String(), row.MarginPct,
			row.AvgSecondsToPIN, strconv.Itoa(row.Unfrozen)})
	}
	cw.Flush()
}

// setRate records a new exchange rate from the reports page's form.
func (h *Handler) setRate(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	rate, err := watan.ParseRate(r.PostFormValue("rate"))
	if err != nil {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeValidation, "%v", err))
		return
	}
	cur := strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency")))
	if _, err := h.money.SetExchangeRate(r.Context(), s.User.TenantID, cur, rate, string(actor(s))); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/reports?done=rate", http.StatusSeeOther)
}

func (h *Handler) statement(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	code := strings.TrimSpace(r.URL.Query().Get("account"))
	from, to, err := h.rangeOf(r, s.User.TenantID, 30)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	d := statementData{Code: code, Query: url.Values{"account": {code}, "from": {from.String()}, "to": {to.String()}}.Encode()}
	d.Statement.From, d.Statement.To = from, to
	if code != "" {
		if d.Statement, err = h.money.Statement(r.Context(), s.User.TenantID, code, from, to); err != nil {
			h.failErr(w, r, s, err)
			return
		}
		if r.URL.Query().Get("format") == "csv" {
			statementCSV(w, d.Statement)
			return
		}
	}
	h.render(w, r, s, http.StatusOK, "statement", "title.statement", d)
}

func statementCSV(w http.ResponseWriter, st watan.Statement) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="statement-`+st.Account+"-"+st.From.String()+"-"+st.To.String()+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"at", "kind", "order_id", "amount", "balance_after", "note"})
	cw.Write([]string{st.From.String(), "opening", "", "", st.Opening.String(), "opening balance (" + st.Currency + ")"})
	for _, e := range st.Entries {
		order := ""
		if e.OrderID != 0 {
			order = strconv.FormatInt(e.OrderID, 10)
		}
		cw.Write([]string{e.CreatedAt.Format(time.RFC3339), string(e.Kind), order, e.Amount.String(), e.BalanceAfter.String(), e.Note})
	}
	cw.Write([]string{st.To.String(), "closing", "", "", st.Closing.String(), "closing balance (" + st.Currency + ")"})
	cw.Flush()
}
