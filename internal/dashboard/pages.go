package dashboard

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"watan"
	"watan/internal/breaker"
	"watan/internal/engine"
	"watan/internal/store"
)

// signinPage shows the sign-in form, with a fresh token in a cookie and in the form
// so that another site cannot sign a browser in to an account of its choosing.
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	_, ok, err := h.session(r)
	if err != nil {
		h.unavailable(w, r, store.Session{}, err)
		return
	}
	if ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.showSignin(w, r, http.StatusOK, "")
}

type signinData struct {
	Token  string
	Next   string
	Tenant string
	Name   string
	Error  string
}

func (h *Handler) showSignin(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	var b [16]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	h.setCookie(w, r, signinCookie, tok, 3600)
	h.render(w, r, store.Session{}, status, "signin", "title.signin", signinData{
		Token: tok, Next: r.FormValue("next"), Tenant: r.FormValue("tenant"), Name: r.FormValue("name"), Error: errMsg,
	})
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := r.Cookie(signinCookie)
	if err != nil || !tokenEqual(r.PostFormValue("csrf"), c.Value) {
		h.log.Warn("dashboard: refused sign-in without a valid form token")
		h.fail(w, r, store.Session{User: store.User{Lang: requestLang(r)}}, http.StatusForbidden, tr(requestLang(r), "err.csrf"))
		return
	}
	lang := requestLang(r)
	tenantID, _ := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("tenant")), 10, 64)
	name := r.PostFormValue("name")
	addr := h.addr(r)
	u, err := h.store.SignIn(r.Context(), store.SignInAttempt{TenantID: tenantID, Name: name, Password: r.PostFormValue("password"), Address: addr})
	if te, ok := errors.AsType[*store.ThrottledError](err); ok {
		// Debug only: refusals cost an attacker nothing, so logging each would
		// let them flood the log. The store logs lockouts and records them as
		// events.
		h.log.Debug("dashboard: sign-in throttled", "tenant_id", tenantID, "name", name, "address", addr, "wait", te.Wait, "locked", te.Locked)
		w.Header().Set("Retry-After", strconv.Itoa(store.WaitSeconds(te.Wait)))
		h.showSignin(w, r, http.StatusTooManyRequests, fmt.Sprintf(tr(lang, "signin.throttled"), waitText(lang, te.Wait)))
		return
	}
	if err != nil && h.outage(err) {
		h.unavailable(w, r, store.Session{}, err)
		return
	}
	if err != nil {
		if watan.ErrorCode(err) != watan.ECodeUnauthorized {
			h.log.Error("dashboard: sign-in", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h.log.Warn("dashboard: sign-in refused", "tenant_id", tenantID, "name", name, "address", addr)
		h.showSignin(w, r, http.StatusUnauthorized, tr(lang, "signin.wrong"))
		return
	}
	sess, err := h.store.CreateSession(r.Context(), u, h.ttl)
	if err != nil && h.outage(err) {
		h.unavailable(w, r, store.Session{}, err)
		return
	}
	if err != nil {
		h.log.Error("dashboard: create session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.log.Info("dashboard: signed in", "tenant_id", u.TenantID, "user", u.Name, "address", addr)
	h.setCookie(w, r, signinCookie, "", -1)
	h.setCookie(w, r, sessionCookie, sess.Token, int(h.ttl/time.Second))
	http.Redirect(w, r, localPath(r.PostFormValue("next"), "/"), http.StatusSeeOther)
}

// waitText is a throttled sign-in's wait as the sign-in page tells it: seconds up
// to two minutes, whole minutes beyond, always rounded up so that an operator who
// waits as told is let in.
func waitText(lang string, d time.Duration) string {
	s := store.WaitSeconds(d)
	if s <= 120 {
		return count(lang, s, "unit.s")
	}
	return count(lang, (s+59)/60, "unit.min")
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	if err := h.store.DeleteSession(r.Context(), s.Token); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (h *Handler) setLang(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	if err := h.store.SetUserLang(r.Context(), s.User.TenantID, s.User.ID, r.PostFormValue("lang")); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, backTo(r, "/"), http.StatusSeeOther)
}

type overviewData struct {
	store.Overview
	Day          store.Day
	Decided      int
	SuccessPct   string
	PIN50, PIN95 string
	StaleAfter   string
	Statuses     []watan.Status
	Chart        barChart
	Ages         []ageBar
	Health       []providerHealth
}

// ageBar is one bucket of the pending orders by age.
type ageBar struct {
	Label string
	N     int
	Pct   int
}

// providerHealth is one provider account's line on the overview.
type providerHealth struct {
	ID                int64
	Name              string
	Paused            bool
	Circuit           string
	Approved, Decided int
	SuccessPct        string
	Latency           string
	Pending           int
}

// pctText is n of total as a percentage with one decimal, "" for no total.
func pctText(n, total int) string {
	if total == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(n)*100/float64(total), 'f', 1, 64)
}

// durText is a duration as the overview shows it: 850 ms, 12.4 s, 3.1 min.
func durText(lang string, d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " " + tr(lang, "unit.ms")
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " " + tr(lang, "unit.s.short")
	}
	return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) + " " + tr(lang, "unit.min.short")
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	tid, lang := s.User.TenantID, s.User.Lang
	now := h.clock.Now()
	ov, err := h.store.Overview(r.Context(), tid, now, h.stale, 20)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	day, err := h.store.Day(r.Context(), tid, now)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	provs, err := h.store.ListProviderAccounts(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	pending, err := h.store.PendingByProvider(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	d := overviewData{Overview: ov, Day: day, Decided: day.Approved + day.Rejected, StaleAfter: minutes(lang, h.stale),
		PIN50: durText(lang, day.PIN50), PIN95: durText(lang, day.PIN95),
		Statuses: []watan.Status{watan.StatusPending, watan.StatusApproved, watan.StatusRejected},
		Chart:    perMinuteChart(lang, ov.PerMinute)}
	d.SuccessPct = pctText(day.Approved, d.Decided)
	most := slices.Max(day.PendingByAge[:])
	for i, key := range []string{"ov.age.lt1m", "ov.age.1to5", "ov.age.5to15", "ov.age.15to60", "ov.age.gt1h"} {
		n := day.PendingByAge[i]
		pct := 0
		if most > 0 {
			pct = n * 100 / most
		}
		d.Ages = append(d.Ages, ageBar{Label: tr(lang, key), N: n, Pct: pct})
	}
	for _, p := range provs {
		pd := day.Providers[p.ID]
		ph := providerHealth{ID: p.ID, Name: p.Name, Paused: p.Paused, Circuit: string(h.op.Circuit(p.ID).State),
			Approved: pd.Approved, Decided: pd.Approved + pd.Rejected, Latency: durText(lang, pd.PIN50), Pending: pending[p.ID]}
		ph.SuccessPct = pctText(pd.Approved, ph.Decided)
		d.Health = append(d.Health, ph)
	}
	h.render(w, r, s, http.StatusOK, "overview", "title.overview", d)
}

// minutes formats a threshold for the overview, in whole minutes when it is one.
func minutes(lang string, d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " " + tr(lang, "unit.min")
	}
	return d.String()
}

// row is an order as the lists show it.
type row struct {
	watan.Order
	Provider string
	Age      string
}

// The Can methods mirror the engine's rules (internal/engine/operator.go) so that the
// order page offers only the actions that can succeed; the engine still decides,
// since the order may change between the page and the click.

// CanApprove: pending or rejected.
func (r row) CanApprove() bool { return r.Status != watan.StatusApproved }

// CanReject: pending only.
func (r row) CanReject() bool { return r.Status == watan.StatusPending }

// CanRedispatch: no provider may hold the order.
func (r row) CanRedispatch() bool {
	switch r.Status {
	case watan.StatusPending:
		return stateIn(r.ProviderState, watan.StateNotSent, watan.StateManual, watan.StateNotFound, watan.StateFailed)
	case watan.StatusRejected:
		return stateIn(r.ProviderState, watan.StateFailed, watan.StateNotFound)
	}
	return false
}

// CanManual: pending and held by no provider.
func (r row) CanManual() bool {
	return r.Status == watan.StatusPending && stateIn(r.ProviderState, watan.StateNotSent, watan.StateNotFound, watan.StateFailed)
}

// CanCheck: pending at a provider.
func (r row) CanCheck() bool { return r.Status == watan.StatusPending && r.ProviderState.Dispatched() }

func stateIn(s watan.ProviderState, set ...watan.ProviderState) bool { return slices.Contains(set, s) }

type ordersData struct {
	Rows      []row
	Providers []watan.ProviderAccount
	Filter    struct{ Status, Provider, Q, From, To string }
	Filtered  bool   // a filter is set: the filters stay unfolded on a phone
	Next      string // the query of the next page, if any
	Statuses  []watan.Status
	// Live is set on a first page, which new orders join as they arrive (after
	// MaxID, the newest order listed).
	Live  bool
	MaxID int64
}

// dateLayout is the HTML date input's format; dates are UTC days.
const dateLayout = "2006-01-02"

// orderFilter reads the orders list's filters from the query.
func orderFilter(tid int64, q url.Values) (watan.OrderFilter, ordersData, error) {
	d := ordersData{Statuses: []watan.Status{watan.StatusPending, watan.StatusApproved, watan.StatusRejected}}
	d.Filter.Status, d.Filter.Provider, d.Filter.Q, d.Filter.From, d.Filter.To = q.Get("status"), q.Get("provider"), q.Get("q"), q.Get("from"), q.Get("to")
	d.Filtered = d.Filter.Status+d.Filter.Provider+d.Filter.Q+d.Filter.From+d.Filter.To != ""
	f := watan.OrderFilter{TenantID: tid, Status: watan.Status(d.Filter.Status), Query: strings.TrimSpace(d.Filter.Q), Cursor: q.Get("cursor"), Limit: 50}
	if f.Status != "" && !f.Status.Valid() {
		return f, d, watan.Errorf(watan.ECodeValidation, "unknown status %q", f.Status)
	}
	if d.Filter.Provider != "" {
		id, err := strconv.ParseInt(d.Filter.Provider, 10, 64)
		if err != nil || id <= 0 {
			return f, d, watan.Errorf(watan.ECodeValidation, "provider must be a provider account id")
		}
		f.ProviderAccountID = id
	}
	if d.Filter.From != "" {
		t, err := time.Parse(dateLayout, d.Filter.From)
		if err != nil {
			return f, d, watan.Errorf(watan.ECodeValidation, "from must be a date (YYYY-MM-DD)")
		}
		f.From = t
	}
	if d.Filter.To != "" {
		t, err := time.Parse(dateLayout, d.Filter.To)
		if err != nil {
			return f, d, watan.Errorf(watan.ECodeValidation, "to must be a date (YYYY-MM-DD)")
		}
		f.To = t.AddDate(0, 0, 1) // the whole day the operator picked
	}
	return f, d, nil
}

func (h *Handler) providerNames(r *http.Request, tid int64) ([]watan.ProviderAccount, map[int64]string, error) {
	provs, err := h.store.ListProviderAccounts(r.Context(), tid)
	names := map[int64]string{}
	for _, p := range provs {
		names[p.ID] = p.Name
	}
	return provs, names, err
}

// orderRows answers the orders list's poll for new orders: the rows of the orders
// after the id "after" that match the list's filters, newest last, as the list's
// own template renders them.
func (h *Handler) orderRows(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	tid := s.User.TenantID
	f, d, err := orderFilter(tid, r.URL.Query())
	if err != nil {
		http.Error(w, watan.ErrorMessage(err), http.StatusUnprocessableEntity)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	f.Cursor = ""
	page, err := h.store.ListOrders(r.Context(), f)
	if err != nil {
		h.liveFail(w, r, err)
		return
	}
	_, names, err := h.providerNames(r, tid)
	if err != nil {
		h.liveFail(w, r, err)
		return
	}
	now := h.clock.Now()
	for i := len(page.Orders) - 1; i >= 0; i-- {
		if o := page.Orders[i]; o.ID > after {
			d.Rows = append(d.Rows, row{Order: o, Provider: names[o.ProviderAccountID], Age: age(now.Sub(o.CreatedAt))})
		}
	}
	var buf bytes.Buffer
	if err := h.pages["orders"].ExecuteTemplate(&buf, "orderRows", h.view(r, s, "orders", "title.orders", d)); err != nil {
		h.log.Error("dashboard: render rows", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func (h *Handler) orders(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	tid := s.User.TenantID
	q := r.URL.Query()
	f, d, err := orderFilter(tid, q)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	provs, err := h.store.ListProviderAccounts(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	d.Providers = provs
	names := map[int64]string{}
	for _, p := range provs {
		names[p.ID] = p.Name
	}

	// Pending orders come first, oldest first, because they are the ones waiting
	// for someone; the rest follow newest first, a page at a time.
	var list []watan.Order
	if f.Status == "" && f.Cursor == "" {
		pf := f
		pf.Status, pf.Limit = watan.StatusPending, 200
		pending, err := h.store.ListOrders(r.Context(), pf)
		if err != nil {
			h.failErr(w, r, s, err)
			return
		}
		slices.Reverse(pending.Orders)
		list = pending.Orders
	}
	page, err := h.store.ListOrders(r.Context(), f)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	for _, o := range page.Orders {
		if f.Status == "" && f.Cursor == "" && o.Status == watan.StatusPending {
			continue // already listed above
		}
		list = append(list, o)
	}
	now := h.clock.Now()
	for _, o := range list {
		d.Rows = append(d.Rows, row{Order: o, Provider: names[o.ProviderAccountID], Age: age(now.Sub(o.CreatedAt))})
		d.MaxID = max(d.MaxID, o.ID)
	}
	d.Live = f.Cursor == ""
	if page.NextCursor != "" {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("cursor", page.NextCursor)
		d.Next = nq.Encode()
	}
	h.render(w, r, s, http.StatusOK, "orders", "title.orders", d)
}

type orderData struct {
	row
	Events    []watan.OrderEvent
	Providers []watan.ProviderAccount
}

func (h *Handler) order(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no order %q", r.PathValue("id")))
		return
	}
	o, err := h.store.FindOrder(r.Context(), s.User.TenantID, id)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	evs, err := h.store.OrderEvents(r.Context(), s.User.TenantID, id)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	provs, err := h.store.ListProviderAccounts(r.Context(), s.User.TenantID)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	d := orderData{row: row{Order: o, Age: age(h.clock.Now().Sub(o.CreatedAt))}, Events: evs, Providers: provs}
	for _, p := range provs {
		if p.ID == o.ProviderAccountID {
			d.Provider = p.Name
		}
	}
	h.render(w, r, s, http.StatusOK, "order", "title.order", d)
}

// act runs one operator action on one order of the session's tenant.
func (h *Handler) act(r *http.Request, s store.Session, action string, id int64) error {
	ctx, tid, who := r.Context(), s.User.TenantID, actor(s)
	note := strings.TrimSpace(r.PostFormValue("note"))
	if len(note) > watan.MaxNoteLen {
		return watan.Errorf(watan.ECodeValidation, "note must be at most %d bytes", watan.MaxNoteLen)
	}
	if err := watan.ValidateText("note", note); err != nil {
		return err
	}
	var err error
	switch action {
	case "approve":
		pin := strings.TrimSpace(r.PostFormValue("pin"))
		if len(pin) > 512 {
			return watan.Errorf(watan.ECodeValidation, "PIN must be at most 512 bytes")
		}
		if err := watan.ValidateIdentifier("PIN", pin); err != nil {
			return err
		}
		_, err = h.op.Approve(ctx, tid, id, who, pin, note)
	case "reject":
		_, err = h.op.Reject(ctx, tid, id, who, note)
	case "redispatch":
		pa, perr := strconv.ParseInt(r.PostFormValue("provider_account_id"), 10, 64)
		if perr != nil || pa <= 0 {
			return watan.Errorf(watan.ECodeValidation, "choose a provider account")
		}
		_, err = h.op.Redispatch(ctx, tid, id, pa, who, note)
	case "manual":
		_, err = h.op.SetManual(ctx, tid, id, who, note)
	case "check":
		_, err = h.op.CheckNow(ctx, tid, id, who)
	default:
		return watan.Errorf(watan.ECodeNotFound, "no action %q", action)
	}
	if err == nil {
		h.log.Info("dashboard: operator action", "action", action, "order_id", id, "tenant_id", tid, "user", s.User.Name)
	}
	return err
}

func (h *Handler) orderAction(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no order %q", r.PathValue("id")))
		return
	}
	action := r.PathValue("action")
	if err := h.act(r, s, action, id); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/orders/"+strconv.FormatInt(id, 10)+"?done="+action, http.StatusSeeOther)
}

type bulkResult struct {
	ID    int64
	Error string
}

type bulkData struct {
	Action  string
	Results []bulkResult
}

// maxBulk bounds one bulk action, which runs the orders one by one.
const maxBulk = 200

func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	action := r.PostFormValue("action")
	if action == "check" || !slices.Contains([]string{"approve", "reject", "redispatch", "manual"}, action) {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeValidation, "choose an action"))
		return
	}
	ids := r.PostForm["id"]
	if len(ids) == 0 || len(ids) > maxBulk {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeValidation, "select 1 to %d orders", maxBulk))
		return
	}
	d := bulkData{Action: action}
	status := http.StatusOK
	for _, v := range ids {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			h.failErr(w, r, s, watan.Errorf(watan.ECodeValidation, "bad order id %q", v))
			return
		}
		res := bulkResult{ID: id}
		// One order's failure (changed meanwhile, another tenant's) does not stop
		// the others; each is reported.
		if err := h.act(r, s, action, id); err != nil {
			if statusOf(err) == http.StatusInternalServerError {
				h.log.Error("dashboard: bulk action", "action", action, "order_id", id, "err", err)
			}
			msg, detail := errorText(s.User.Lang, err)
			res.Error = msg
			if detail != "" {
				res.Error += " (" + detail + ")"
			}
			status = http.StatusMultiStatus
		}
		d.Results = append(d.Results, res)
	}
	h.render(w, r, s, status, "bulk", "title.bulk", d)
}

type providerRow struct {
	watan.ProviderAccount
	Pending    int
	Balance    *watan.Balance
	BalanceErr string
	Circuit    breaker.Snapshot
	Events     []watan.ProviderEvent // the latest few, newest first
	// Recorded are the balance probe's latest reads, newest first; Low says the
	// latest is below the account's threshold.
	Recorded []watan.BalancePoint
	Low      bool
	// Learned is the account's completion times as the adaptive policy learned
	// them in this process (quantiles rounded to the second, for reading).
	Learned                            engine.CompletionStat
	LearnedP50, LearnedP90, LearnedP99 string
	LearnedNeeds                       int // completions the policy waits for before adapting
}

// providerEventsShown is how many of an account's latest timeline entries the
// providers page shows; the API pages through all of them.
const providerEventsShown = 5

// roundDur shows a learned duration to the second (to the tenth below 10 s).
func roundDur(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

type providersData struct {
	Rows        []providerRow
	CanBalance  bool
	AskedFor    int64
	ProviderIDs []int64
}

func (h *Handler) providers(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	tid := s.User.TenantID
	provs, err := h.store.ListProviderAccounts(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	pending, err := h.store.PendingByProvider(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	d := providersData{CanBalance: h.balances != nil}
	asked, _ := strconv.ParseInt(r.URL.Query().Get("balance"), 10, 64)
	for _, p := range provs {
		pr := providerRow{ProviderAccount: p, Pending: pending[p.ID], Circuit: h.op.Circuit(p.ID),
			Learned: h.op.Completion(p.ID), LearnedNeeds: engine.AdaptiveMinSamples}
		pr.LearnedP50, pr.LearnedP90, pr.LearnedP99 = roundDur(pr.Learned.P50), roundDur(pr.Learned.P90), roundDur(pr.Learned.P99)
		if pr.Events, _, err = h.op.ProviderEvents(r.Context(), tid, p.ID, providerEventsShown, ""); err != nil {
			h.failErr(w, r, s, err)
			return
		}
		if h.money != nil {
			if pr.Recorded, err = h.money.ProviderBalanceHistory(r.Context(), tid, p.ID, balancesShown); err != nil {
				h.failErr(w, r, s, err)
				return
			}
			pr.Low = len(pr.Recorded) > 0 && p.LowBalanceThreshold != nil && pr.Recorded[0].Balance < *p.LowBalanceThreshold
		}
		// The balance is asked for on demand only: it is a call to the provider,
		// which may be slow or count against a rate limit.
		if asked == p.ID && h.balances != nil {
			b, err := h.balances.Balance(r.Context(), tid, p.ID)
			if err != nil {
				pr.BalanceErr = watan.ErrorMessage(err) // the provider's or the network's words
			} else {
				pr.Balance = &b
			}
		}
		d.Rows = append(d.Rows, pr)
	}
	h.render(w, r, s, http.StatusOK, "providers", "title.providers", d)
}

func (h *Handler) resumeProvider(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no provider account %q", r.PathValue("id")))
		return
	}
	if err := h.op.ResumeProvider(r.Context(), s.User.TenantID, id, actor(s)); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/providers?done=resume", http.StatusSeeOther)
}

func (h *Handler) pauseProvider(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no provider account %q", r.PathValue("id")))
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > watan.MaxNoteLen {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeValidation, "reason must be at most %d bytes", watan.MaxNoteLen))
		return
	}
	if err := watan.ValidateText("reason", reason); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	if err := h.op.PauseProvider(r.Context(), s.User.TenantID, id, reason, actor(s)); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/providers?done=pause", http.StatusSeeOther)
}

// maxSignInEvents is how many of the tenant's latest sign-in events the security
// page lists.
const maxSignInEvents = 100

type securityData struct {
	Events []store.SignInEvent
	Policy string
}

// security lists the tenant's latest sign-ins, newest first, and says how sign-in
// is throttled.
func (h *Handler) security(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	evs, err := h.store.SignInEvents(r.Context(), s.User.TenantID, maxSignInEvents)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	lang := s.User.Lang
	policy := fmt.Sprintf(tr(lang, "sec.policy"), store.SignInDelayAfter, store.SignInLockAfter,
		waitText(lang, store.SignInLockout), store.AddressDelayAfter, store.AddressLockAfter)
	h.render(w, r, s, http.StatusOK, "security", "title.security", securityData{Events: evs, Policy: policy})
}

// liveOrder is what pages update of an order without a reload.
type liveOrder struct {
	ID            int64  `json:"id"`
	Status        string `json:"status"`
	StatusLabel   string `json:"status_label"`
	ProviderState string `json:"provider_state"`
	StateLabel    string `json:"state_label"`
	PIN           string `json:"pin"`
	Message       string `json:"message"`
	// MessageHTML is Message as the order page shows it: translated when it is
	// one of the engine's messages, else marked as the provider's words.
	MessageHTML string `json:"message_html"`
	// The rest fill the order page's fields that the engine changes.
	Provider        string `json:"provider"`
	Referans        string `json:"referans"`
	ProviderOrderID string `json:"provider_order_id"`
	SentAt          string `json:"sent_at"`
	LastCheckedAt   string `json:"last_checked_at"`
	NextCheckAt     string `json:"next_check_at"`
	UpdatedAt       string `json:"updated_at"`
	CompletedAt     string `json:"completed_at"`
	Deadline        string `json:"deadline"`
	CheckCount      int    `json:"check_count"`
	DispatchCount   int    `json:"dispatch_count"`
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return fmtWhen(*t)
}

type liveEvent struct {
	At      string `json:"at"`
	Actor   string `json:"actor"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

type liveData struct {
	Counts map[string]int `json:"counts"`
	Orders []liveOrder    `json:"orders"`
	Events []liveEvent    `json:"events,omitempty"`
	// TimelineHTML is the timeline's rows as the order page renders them.
	TimelineHTML string `json:"timeline_html,omitempty"`
}

// maxLive bounds the orders one poll asks about.
const maxLive = 200

// live answers the pages' polls: the status counts, the given orders as they are
// now (ids=1,2,3), and one order's timeline (events=ID). Orders of other tenants
// are left out, as if they did not exist.
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	tid, lang := s.User.TenantID, s.User.Lang
	q := r.URL.Query()
	d := liveData{Counts: map[string]int{}, Orders: []liveOrder{}}
	ov, err := h.store.Overview(r.Context(), tid, h.clock.Now(), h.stale, 1)
	if err != nil {
		h.liveFail(w, r, err)
		return
	}
	for st, n := range ov.Counts {
		d.Counts[string(st)] = n
	}
	d.Counts["stale"] = ov.StalePending
	d.Counts["timeouts"] = ov.TimeoutsToday
	var names map[int64]string // provider account names, read once if an order needs them
	seen := map[int64]bool{}
	for _, v := range strings.Split(q.Get("ids"), ",") {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || seen[id] || len(seen) >= maxLive {
			continue
		}
		seen[id] = true
		o, err := h.store.FindOrder(r.Context(), tid, id)
		if watan.IsNotFound(err) {
			continue
		}
		if err != nil {
			h.liveFail(w, r, err)
			return
		}
		if names == nil && o.ProviderAccountID != 0 {
			provs, err := h.store.ListProviderAccounts(r.Context(), tid)
			if err != nil {
				h.liveFail(w, r, err)
				return
			}
			names = map[int64]string{}
			for _, p := range provs {
				names[p.ID] = p.Name
			}
		}
		d.Orders = append(d.Orders, liveOrder{ID: o.ID, Status: string(o.Status), StatusLabel: tr(lang, "status."+string(o.Status)),
			ProviderState: string(o.ProviderState), StateLabel: tr(lang, "state."+string(o.ProviderState)), PIN: o.PIN, Message: o.ProviderMessage, MessageHTML: string(textHTML(lang, o.ProviderMessage)),
			Provider: names[o.ProviderAccountID], Referans: o.ProviderReferans, ProviderOrderID: o.ProviderOrderID,
			SentAt: fmtTime(o.SentAt), LastCheckedAt: fmtTime(o.LastCheckedAt), NextCheckAt: fmtTime(o.NextCheckAt),
			UpdatedAt: fmtTime(&o.UpdatedAt), CompletedAt: fmtTime(o.CompletedAt), Deadline: fmtTime(o.Deadline), CheckCount: o.CheckCount, DispatchCount: o.DispatchCount})
	}
	if v := q.Get("events"); v != "" {
		id, _ := strconv.ParseInt(v, 10, 64)
		evs, err := h.store.OrderEvents(r.Context(), tid, id)
		if err != nil && !watan.IsNotFound(err) {
			h.liveFail(w, r, err)
			return
		}
		d.Events = []liveEvent{}
		for _, e := range evs {
			d.Events = append(d.Events, liveEvent{At: fmtWhen(e.At), Actor: actorText(lang, e.Actor), Kind: kindText(lang, e.Kind), Message: eventText(lang, e)})
		}
		var buf bytes.Buffer
		v := h.view(r, s, "order", "title.order", orderData{Events: evs})
		if err := h.pages["order"].ExecuteTemplate(&buf, "timelineRows", v); err != nil {
			h.liveFail(w, r, err)
			return
		}
		d.TimelineHTML = buf.String()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(d)
}

func (h *Handler) liveFail(w http.ResponseWriter, r *http.Request, err error) {
	if h.outage(err) {
		h.unavailable(w, r, store.Session{}, err)
		return
	}
	h.log.Error("dashboard: live", "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}
