package httpapi

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"watan"
)

// Money is what the money routes need: a tenant's settings, rates and price
// groups, and its reports and statements (*store.Store).
type Money interface {
	watan.MoneyService
	watan.ReportService
}

type settingsBody struct {
	BaseCurrency *string `json:"base_currency" desc:"what profit is counted in and rates are quoted against; rates against an earlier base no longer apply"`
	TimeZone     *string `json:"time_zone" desc:"IANA name, e.g. Europe/Istanbul: where a report's day begins"`
}

type setRateRequest struct {
	Currency string      `json:"currency" api:"required" desc:"ISO 4217 code"`
	Rate     *watan.Rate `json:"rate" api:"required" desc:"units of the currency one unit of the base currency buys, as a decimal string with at most eight places, e.g. \"34.8765\""`
}

type ratesView struct {
	BaseCurrency string                `json:"base_currency"`
	Rates        map[string]watan.Rate `json:"rates" desc:"the rate in force of each currency that has one"`
	History      []watan.ExchangeRate  `json:"history" desc:"every recorded rate, newest first (at most 1000): who set it and when; records are never edited"`
}

type createPriceGroupRequest struct {
	Name string `json:"name" api:"required" desc:"unique per tenant, e.g. dealers"`
}

type priceGroupList struct {
	PriceGroups []watan.PriceGroup `json:"price_groups" desc:"ordered by name"`
}

type setPriceRequest struct {
	Price *amount `json:"price" api:"required" desc:"the package's price for the group, in the package's currency"`
}

type packagePriceList struct {
	Prices []watan.PackagePrice `json:"prices" desc:"per group, ordered by group name; groups without a row pay the package's own price"`
}

type accountGroupRequest struct {
	PriceGroup string `json:"price_group" desc:"a group's name, or empty for the packages' own prices"`
}

func (h *Handler) getSettings(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.money.TenantSettings(r.Context(), tenantOf(r))
	if err != nil {
		return fmt.Errorf("reading settings: %w", err)
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (h *Handler) patchSettings(w http.ResponseWriter, r *http.Request) error {
	var req settingsBody
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ts, err := h.money.TenantSettings(r.Context(), tenantOf(r))
	if err != nil {
		return fmt.Errorf("reading settings: %w", err)
	}
	if req.BaseCurrency != nil {
		ts.BaseCurrency = *req.BaseCurrency
	}
	if req.TimeZone != nil {
		ts.TimeZone = *req.TimeZone
	}
	ts, err = h.money.SetTenantSettings(r.Context(), tenantOf(r), ts)
	if err != nil {
		return fmt.Errorf("storing settings: %w", err)
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (h *Handler) getRates(w http.ResponseWriter, r *http.Request) error {
	cur, err := h.money.CurrentRates(r.Context(), tenantOf(r))
	if err != nil {
		return fmt.Errorf("reading rates: %w", err)
	}
	hist, err := h.money.ExchangeRateHistory(r.Context(), tenantOf(r), 1000)
	if err != nil {
		return fmt.Errorf("reading rate history: %w", err)
	}
	writeJSON(w, http.StatusOK, ratesView{BaseCurrency: cur.Base, Rates: cur.Rates, History: hist})
	return nil
}

func (h *Handler) setRate(w http.ResponseWriter, r *http.Request) error {
	var req setRateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Rate == nil {
		return invalid("rate is required")
	}
	x, err := h.money.SetExchangeRate(r.Context(), tenantOf(r), req.Currency, *req.Rate, string(actorOf(r)))
	if err != nil {
		return fmt.Errorf("setting the rate of %q: %w", req.Currency, err)
	}
	writeJSON(w, http.StatusCreated, x)
	return nil
}

func (h *Handler) createPriceGroup(w http.ResponseWriter, r *http.Request) error {
	var req createPriceGroupRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	g, err := h.money.CreatePriceGroup(r.Context(), tenantOf(r), req.Name)
	if err != nil {
		return fmt.Errorf("creating price group: %w", err)
	}
	writeJSON(w, http.StatusCreated, g)
	return nil
}

func (h *Handler) listPriceGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := h.money.ListPriceGroups(r.Context(), tenantOf(r))
	if err != nil {
		return fmt.Errorf("listing price groups: %w", err)
	}
	writeJSON(w, http.StatusOK, priceGroupList{PriceGroups: gs})
	return nil
}

func (h *Handler) listPackagePrices(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.money.ListPackagePrices(r.Context(), tenantOf(r), r.PathValue("code"))
	if err != nil {
		return fmt.Errorf("listing prices of package %q: %w", r.PathValue("code"), err)
	}
	writeJSON(w, http.StatusOK, packagePriceList{Prices: ps})
	return nil
}

func (h *Handler) setPackagePrice(w http.ResponseWriter, r *http.Request) error {
	var req setPriceRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Price == nil {
		return invalid("price is required")
	}
	pp, err := h.money.SetPackagePrice(r.Context(), tenantOf(r), r.PathValue("code"), r.PathValue("group"), watan.Amount(*req.Price))
	if err != nil {
		return fmt.Errorf("setting a group price of package %q: %w", r.PathValue("code"), err)
	}
	writeJSON(w, http.StatusOK, pp)
	return nil
}

func (h *Handler) setAccountGroup(w http.ResponseWriter, r *http.Request) error {
	var req accountGroupRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	a, err := h.money.SetAccountPriceGroup(r.Context(), tenantOf(r), r.PathValue("code"), req.PriceGroup)
	if err != nil {
		return fmt.Errorf("setting the price group of account %q: %w", r.PathValue("code"), err)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// DefaultReportDays is a report's or statement's range when from is not given:
// the 30 days up to to (default today, in the tenant's time zone).
const DefaultReportDays = 30

// dateParams reads from and to (YYYY-MM-DD, in the tenant's time zone) with their
// defaults, and format (json or csv).
func (h *Handler) dateParams(r *http.Request) (from, to watan.Date, csvOut bool, err error) {
	q, err := query(r)
	if err != nil {
		return from, to, false, err
	}
	switch q.Get("format") {
	case "", "json":
	case "csv":
		csvOut = true
	default:
		return from, to, false, invalid("format must be json or csv")
	}
	if s := q.Get("to"); s != "" {
		if to, err = watan.ParseDate(s); err != nil {
			return from, to, false, err
		}
	} else {
		ts, err := h.money.TenantSettings(r.Context(), tenantOf(r))
		if err != nil {
			return from, to, false, fmt.Errorf("reading settings: %w", err)
		}
		loc, err := time.LoadLocation(ts.TimeZone)
		if err != nil {
			return from, to, false, fmt.Errorf("tenant time zone: %w", err)
		}
		to = watan.DateOf(time.Now().In(loc))
	}
	from = to.AddDays(1 - DefaultReportDays)
	if s := q.Get("from"); s != "" {
		if from, err = watan.ParseDate(s); err != nil {
			return from, to, false, err
		}
	}
	return from, to, csvOut, nil
}

func (h *Handler) report(w http.ResponseWriter, r *http.Request) error {
	from, to, csvOut, err := h.dateParams(r)
	if err != nil {
		return err
	}
	rep, err := h.money.Report(r.Context(), watan.ReportQuery{TenantID: tenantOf(r), From: from, To: to, By: watan.ReportBy(r.URL.Query().Get("by"))})
	if err != nil {
		return fmt.Errorf("reading report: %w", err)
	}
	if !csvOut {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	return writeCSV(w, fmt.Sprintf("report-%s-%s-%s.csv", rep.By, from, to), func(cw *csv.Writer) {
		cw.Write([]string{string(rep.By), "label", "orders", "approved", "rejected", "pending",
			"sales_" + rep.BaseCurrency, "cost_" + rep.BaseCurrency, "profit_" + rep.BaseCurrency, "margin_pct", "avg_seconds_to_pin", "unfrozen"})
		for _, row := range append(rep.Rows, rep.Total) {
			cw.Write([]string{row.Key, row.Label, strconv.Itoa(row.Orders), strconv.Itoa(row.Approved), strconv.Itoa(row.Rejected),
				strconv.Itoa(row.Pending), row.Sales.String(), row.Cost.String(), row.Profit.String(), row.MarginPct,
				row.AvgSecondsToPIN, strconv.Itoa(row.Unfrozen)})
		}
	})
}

func (h *Handler) statement(w http.ResponseWriter, r *http.Request) error {
	from, to, csvOut, err := h.dateParams(r)
	if err != nil {
		return err
	}
	code := r.PathValue("code")
	st, err := h.money.Statement(r.Context(), tenantOf(r), code, from, to)
	if err != nil {
		return fmt.Errorf("reading the statement of account %q: %w", code, err)
	}
	if st.Entries == nil {
		st.Entries = []watan.LedgerEntry{}
	}
	if !csvOut {
		writeJSON(w, http.StatusOK, st)
		return nil
	}
	return writeCSV(w, fmt.Sprintf("statement-%s-%s-%s.csv", st.Account, from, to), func(cw *csv.Writer) {
		cw.Write([]string{"at", "kind", "order_id", "amount", "balance_after", "note"})
		cw.Write([]string{from.String(), "opening", "", "", st.Opening.String(), "opening balance (" + st.Currency + ")"})
		for _, e := range st.Entries {
			order := ""
			if e.OrderID != 0 {
				order = strconv.FormatInt(e.OrderID, 10)
			}
			cw.Write([]string{e.CreatedAt.Format(time.RFC3339), string(e.Kind), order, e.Amount.String(), e.BalanceAfter.String(), e.Note})
		}
		cw.Write([]string{to.String(), "closing", "", "", st.Closing.String(), "closing balance (" + st.Currency + ")"})
	})
}

// writeCSV answers 200 with text/csv as a download named name.
func writeCSV(w http.ResponseWriter, name string, rows func(cw *csv.Writer)) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	rows(cw)
	cw.Flush()
	return nil // the status is sent: a write error is the client's going away
}
