// Package dashboard is the operators' web interface: sign-in with per-tenant users
// and server-side sessions, the overview, the orders list and each order's detail
// and timeline, the provider accounts, operators' actions on them, and the tenant's
// recent sign-ins. It is served by the same binary as the API, from HTML templates
// and assets embedded in it, so it works offline and needs no CDN. Pages are plain
// HTML forms; a few lines of JavaScript count pending orders' ages up and poll a
// small JSON endpoint so that pages follow orders without a reload.
//
// Every page, query and action is scoped by the signed-in user's tenant: another
// tenant's order or provider account is a 404. Every POST carries the session's
// CSRF token. Sign-in attempts are throttled by name and by client address, in the
// database so that every node agrees (store.SignIn). The pages speak English and
// Arabic (right to left), chosen per user.
package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"watan"
	"watan/internal/breaker"
	"watan/internal/engine"
	"watan/internal/store"
)

// Store is what the dashboard reads and writes; *store.Store satisfies it. Every
// method that takes a tenant ID answers only about that tenant.
type Store interface {
	FindOrder(ctx context.Context, tenantID, id int64) (watan.Order, error)
	ListOrders(ctx context.Context, f watan.OrderFilter) (watan.OrderPage, error)
	OrderEvents(ctx context.Context, tenantID, orderID int64) ([]watan.OrderEvent, error)
	ListProviderAccounts(ctx context.Context, tenantID int64) ([]watan.ProviderAccount, error)
	PendingByProvider(ctx context.Context, tenantID int64) (map[int64]int, error)
	Overview(ctx context.Context, tenantID int64, now time.Time, staleAfter time.Duration, limit int) (store.Overview, error)
	Day(ctx context.Context, tenantID int64, now time.Time) (store.Day, error)

	ListUsers(ctx context.Context, tenantID int64) ([]store.User, error)
	CreateUserWithRole(ctx context.Context, tenantID int64, name, password, lang, role string, cost int) (store.User, error)
	SetUserDisabled(ctx context.Context, tenantID, userID int64, disabled bool) error
	SetUserPassword(ctx context.Context, tenantID, userID int64, password string) error
	ListAPIKeys(ctx context.Context, tenantID int64) ([]watan.APIKey, error)
	CreateAPIKey(ctx context.Context, tenantID int64, name string) (watan.APIKey, string, error)
	RevokeAPIKey(ctx context.Context, tenantID, id int64) (watan.APIKey, error)

	SignIn(ctx context.Context, a store.SignInAttempt) (store.User, error)
	SignInEvents(ctx context.Context, tenantID int64, limit int) ([]store.SignInEvent, error)
	SetUserLang(ctx context.Context, tenantID, userID int64, lang string) error
	CreateSession(ctx context.Context, u store.User, ttl time.Duration) (store.Session, error)
	FindSession(ctx context.Context, token string) (store.Session, error)
	DeleteSession(ctx context.Context, token string) error
}

// Operator carries out operators' actions; *engine.Engine satisfies it. Each action
// is refused with an ECodeInvalidTransition error if the order changed under the
// operator, and with ECodeNotFound for an order of another tenant.
type Operator interface {
	Approve(ctx context.Context, tenantID, orderID int64, actor watan.Actor, pin, note string) (watan.Order, error)
	Reject(ctx context.Context, tenantID, orderID int64, actor watan.Actor, note string) (watan.Order, error)
	Redispatch(ctx context.Context, tenantID, orderID, providerAccountID int64, actor watan.Actor, note string) (watan.Order, error)
	SetManual(ctx context.Context, tenantID, orderID int64, actor watan.Actor, note string) (watan.Order, error)
	CheckNow(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error)
	PauseProvider(ctx context.Context, tenantID, id int64, reason string, actor watan.Actor) error
	ResumeProvider(ctx context.Context, tenantID, id int64, actor watan.Actor) error
	// Circuit is a provider account's circuit breaker in this process.
	Circuit(providerAccountID int64) breaker.Snapshot
	// Completion is what the adaptive polling policy learned in this process of
	// a provider account's completion times.
	Completion(providerAccountID int64) engine.CompletionStat
	// ProviderEvents pages through a provider account's timeline, newest first.
	ProviderEvents(ctx context.Context, tenantID, providerAccountID int64, limit int, cursor string) ([]watan.ProviderEvent, string, error)
}

// Balances asks a provider for a provider account's balance, on an operator's
// request. The lead implements it with internal/providers: find the account (scoped
// by tenant), build its client, call Balance.
type Balances interface {
	Balance(ctx context.Context, tenantID, providerAccountID int64) (watan.Balance, error)
}

// Config is what New needs. Store and Operator are required.
type Config struct {
	Store    Store
	Operator Operator
	// Balances serves the providers page's "refresh balance" button. Default nil:
	// the button is not shown.
	Balances Balances
	// Money serves the reports and statement pages and the exchange-rate form
	// (*store.Store). Default nil: those pages are not served or linked.
	Money Money
	// Jobs is River's UI (riverui.Handler built with Prefix JobsPrefix), served at
	// JobsPrefix behind sign-in. Default nil: no job UI.
	Jobs http.Handler
	// JobsAccess says who may use Jobs. River's UI is not scoped by tenant: it
	// shows every tenant's jobs and can cancel or retry them, so an installation
	// with several tenants should let only its own staff in. Default nil: every
	// signed-in operator, which suits a single-tenant installation.
	JobsAccess func(u store.User) bool
	// Logger receives sign-ins, refused requests and internal errors. Default: discard.
	Logger *slog.Logger
	// Clock tells pending orders' ages and the overview's hour. Default watan.SystemClock{}.
	Clock watan.Clock
	// Secure marks cookies Secure even when a request did not arrive over TLS, for a
	// node behind a TLS-terminating proxy. Requests over TLS always get Secure cookies.
	Secure bool
	// SessionTTL is how long a sign-in lasts. Default 12 h.
	SessionTTL time.Duration
	// StaleAfter is the age from which the overview lists a pending order as stuck.
	// Default 10 min.
	StaleAfter time.Duration
	// PollInterval is how often pages ask for updates. Default 3 s.
	PollInterval time.Duration
	// DatabaseDown says whether the database is known to be unreachable
	// (dbhealth.Monitor.Down). While it is, every page shows a banner saying so.
	// Default nil: never.
	DatabaseDown func() (since time.Time, down bool)
	// ClientAddress tells a request's client address, which sign-in attempts are
	// throttled by and the security page shows. Default: the host of the
	// connection's remote address. Behind a reverse proxy that is the proxy's, so
	// every client shares one address's throttle; set this to read the proxy's
	// header then, and only then (a client can write any header it likes).
	ClientAddress func(r *http.Request) string
}

// JobsPrefix is where Config.Jobs is served.
const JobsPrefix = "/admin/jobs"

// Defaults for Config.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultStaleAfter   = 10 * time.Minute
	DefaultPollInterval = 3 * time.Second
)

// Cookie names. The sign-in cookie guards the sign-in form, which has no session
// yet, against login CSRF.
const (
	sessionCookie = "watan_session"
	signinCookie  = "watan_signin"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Handler serves the dashboard. It is safe for concurrent use.
type Handler struct {
	store    Store
	op       Operator
	balances Balances
	money    Money
	log      *slog.Logger
	clock    watan.Clock
	secure   bool
	ttl      time.Duration
	stale    time.Duration
	poll     time.Duration
	jobs     bool
	jobsOK   func(u store.User) bool
	addr     func(r *http.Request) string
	dbDown   func() (time.Time, bool)
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New returns the dashboard's handler, to be mounted at "/". It panics if Store or
// Operator is missing or a template does not parse: both are bugs no request could
// recover from.
func New(cfg Config) *Handler {
	if cfg.Store == nil || cfg.Operator == nil {
		panic("dashboard: Config needs Store and Operator")
	}
	h := &Handler{
		store: cfg.Store, op: cfg.Operator, balances: cfg.Balances, money: cfg.Money, log: cfg.Logger, clock: cfg.Clock,
		secure: cfg.Secure, ttl: cfg.SessionTTL, stale: cfg.StaleAfter, poll: cfg.PollInterval,
		jobs: cfg.Jobs != nil, jobsOK: cfg.JobsAccess, addr: cfg.ClientAddress, dbDown: cfg.DatabaseDown, pages: map[string]*template.Template{}, mux: http.NewServeMux(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.clock == nil {
		h.clock = watan.SystemClock{}
	}
	if h.ttl <= 0 {
		h.ttl = DefaultSessionTTL
	}
	if h.stale <= 0 {
		h.stale = DefaultStaleAfter
	}
	if h.poll <= 0 {
		h.poll = DefaultPollInterval
	}
	if h.addr == nil {
		h.addr = remoteHost
	}
	for _, name := range []string{"signin", "overview", "orders", "order", "providers", "security", "bulk", "error", "team", "reports", "statement"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			panic(fmt.Sprintf("dashboard: template %s: %v", name, err))
		}
		h.pages[name] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err)
	}

	m := h.mux
	m.Handle("GET /assets/", http.StripPrefix("/assets/", cacheAssets(http.FileServerFS(static))))
	m.HandleFunc("GET /signin", h.signinPage)
	m.HandleFunc("POST /signin", h.signin)
	m.Handle("POST /signout", h.auth(h.signout))
	m.Handle("POST /lang", h.auth(h.setLang))
	m.Handle("GET /{$}", h.auth(h.overview))
	m.Handle("GET /orders", h.auth(h.orders))
	m.Handle("POST /orders/bulk", h.auth(h.bulk))
	m.Handle("GET /orders/rows", h.auth(h.orderRows))
	m.Handle("GET /orders/{id}", h.auth(h.order))
	m.Handle("POST /orders/{id}/{action}", h.auth(h.orderAction))
	m.Handle("GET /providers", h.auth(h.providers))
	m.Handle("POST /providers/{id}/resume", h.auth(h.resumeProvider))
	m.Handle("POST /providers/{id}/pause", h.auth(h.pauseProvider))
	m.Handle("GET /security", h.auth(h.security))
	m.Handle("GET /live", h.auth(h.live))
	m.Handle("GET /team", h.auth(h.admin(h.team)))
	m.Handle("POST /team/users", h.auth(h.admin(h.createUser)))
	m.Handle("POST /team/users/{id}/{action}", h.auth(h.admin(h.userAction)))
	m.Handle("POST /team/keys", h.auth(h.admin(h.createKey)))
	m.Handle("POST /team/keys/{id}/revoke", h.auth(h.admin(h.revokeKey)))
	if h.money != nil {
		m.Handle("GET /reports", h.auth(h.reports))
		m.Handle("POST /rates", h.auth(h.admin(h.setRate)))
		m.Handle("GET /statement", h.auth(h.statement))
	}
	if cfg.Jobs != nil {
		m.Handle(JobsPrefix+"/", h.authJobs(withBackLink(cfg.Jobs)))
		m.Handle("GET "+JobsPrefix, http.RedirectHandler(JobsPrefix+"/", http.StatusMovedPermanently))
	}
	return h
}

// ServeHTTP serves the dashboard with headers that keep its pages out of frames and
// other origins' scripts.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, JobsPrefix+"/") {
		// River's UI brings its own inline bootstrap; ours has no inline script.
		hd.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	}
	h.mux.ServeHTTP(w, r)
}

func cacheAssets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

type sessionKey struct{}

// sessionOf returns the request's session; auth guarantees there is one.
func sessionOf(r *http.Request) store.Session {
	s, _ := r.Context().Value(sessionKey{}).(store.Session)
	return s
}

// actor is who the timeline records for the signed-in user's actions.
func actor(s store.Session) watan.Actor { return watan.OperatorActor(s.User.Name) }

// session returns the request's live session, if it has one. A session that cannot
// be read because the database is unreachable is an error (the caller answers
// 503), not a missing session: the operator is not sent to sign in again.
func (h *Handler) session(r *http.Request) (store.Session, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return store.Session{}, false, nil
	}
	s, err := h.store.FindSession(r.Context(), c.Value)
	if err != nil {
		if h.outage(err) {
			return store.Session{}, false, err
		}
		if watan.ErrorCode(err) != watan.ECodeUnauthorized {
			h.log.Error("dashboard: find session", "err", err)
		}
		return store.Session{}, false, nil
	}
	return s, true, nil
}

// databaseDown reports whether the database is known to be unreachable.
func (h *Handler) databaseDown() bool {
	if h.dbDown == nil {
		return false
	}
	_, down := h.dbDown()
	return down
}

// outage reports whether err is the database being unreachable rather than a bug.
func (h *Handler) outage(err error) bool {
	return store.IsUnavailable(err) || (watan.ErrorCode(err) == watan.ECodeInternal && h.databaseDown())
}

// unavailable answers 503 with Retry-After while the database cannot be reached:
// a page saying so (with the banner) in the operator's language, or a bare status
// for the live endpoint. The error is logged at DEBUG only (dbhealth logs the
// outage once, not once per request).
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, s store.Session, err error) {
	h.log.Debug("dashboard: database unavailable", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/live" {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	lang := s.User.Lang
	if s.Token == "" {
		lang = requestLang(r)
	}
	back := r.URL.RequestURI() // a GET can simply be tried again
	if r.Method != http.MethodGet {
		back = backTo(r, "/")
	}
	h.render(w, r, s, http.StatusServiceUnavailable, "error", "title.dbdown",
		errorData{Status: http.StatusServiceUnavailable, Message: tr(lang, "db.down"), Back: localPath(back, "/"), DBDown: true})
}

// auth serves next to signed-in users only; others are sent to the sign-in page (or
// get 401 from the JSON endpoint). On POST it checks the session's CSRF token.
func (h *Handler) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok, err := h.session(r)
		if err != nil {
			h.unavailable(w, r, s, err)
			return
		}
		if !ok {
			if r.URL.Path == "/live" {
				http.Error(w, "signed out", http.StatusUnauthorized)
				return
			}
			target := "/signin"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !tokenEqual(r.PostFormValue("csrf"), s.CSRF) {
				h.log.Warn("dashboard: refused POST without a valid CSRF token", "path", r.URL.Path, "tenant_id", s.User.TenantID, "user", s.User.Name)
				h.fail(w, r, s, http.StatusForbidden, tr(s.User.Lang, "err.csrf"))
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// authJobs serves River's UI to signed-in users. Its own API calls cannot carry our
// CSRF token, so state-changing requests must come from this origin: the session
// cookie is SameSite=Lax (never sent on another site's POST), and the browser's
// Origin and Sec-Fetch-Site headers, when present, must agree.
func (h *Handler) authJobs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok, err := h.session(r)
		if err != nil {
			h.unavailable(w, r, s, err)
			return
		}
		if !ok {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(JobsPrefix+"/"), http.StatusSeeOther)
			return
		}
		if !h.mayUseJobs(s.User) {
			h.fail(w, r, s, http.StatusNotFound, tr(s.User.Lang, "err.notfound"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
				h.fail(w, r, s, http.StatusForbidden, tr(s.User.Lang, "err.csrf"))
				return
			}
			if o := r.Header.Get("Origin"); o != "" {
				u, err := url.Parse(o)
				if err != nil || u.Host != r.Host {
					h.fail(w, r, s, http.StatusForbidden, tr(s.User.Lang, "err.csrf"))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) mayUseJobs(u store.User) bool {
	return h.jobs && (h.jobsOK == nil || h.jobsOK(u))
}

// remoteHost is the host part of the connection's remote address.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setCookie sets a cookie for the whole dashboard: HttpOnly, SameSite=Lax, and
// Secure over TLS or when configured. maxAge < 0 deletes it.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.secure || r.TLS != nil,
	})
}

// statusOf maps an action's error to the HTTP status shown with it.
func statusOf(err error) int {
	switch watan.ErrorCode(err) {
	case watan.ECodeNotFound:
		return http.StatusNotFound
	case watan.ECodeInvalidTransition, watan.ECodeConflict:
		return http.StatusConflict
	case watan.ECodeValidation, watan.ECodeInsufficientBalance, watan.ECodeBadRequest:
		return http.StatusUnprocessableEntity
	case watan.ECodeUnauthorized:
		return http.StatusUnauthorized
	case watan.ECodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// failErr answers with err's status and message; internal errors are logged and
// shown without detail.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, s store.Session, err error) {
	status := statusOf(err)
	if status == http.StatusInternalServerError && h.outage(err) {
		h.unavailable(w, r, s, err)
		return
	}
	if status == http.StatusInternalServerError {
		if errors.Is(err, context.Canceled) {
			return
		}
		h.log.Error("dashboard: request failed", "path", r.URL.Path, "tenant_id", s.User.TenantID, "err", err)
	}
	msg, detail := errorText(s.User.Lang, err)
	h.render(w, r, s, status, "error", "title.error", errorData{Status: status, Message: msg, Detail: detail, Back: backTo(r, "/")})
}

// errorText is an action's error as an operator reads it: what happened, in their
// language, by the error's code; and the error's own message as the detail, in
// English as the API gives it. Not found has no detail worth showing.
func errorText(lang string, err error) (msg, detail string) {
	code := watan.ErrorCode(err)
	if code == watan.ECodeNotFound {
		return tr(lang, "err.notfound"), ""
	}
	return tr(lang, "ecode."+code), watan.ErrorMessage(err)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s store.Session, status int, msg string) {
	h.render(w, r, s, status, "error", "title.error", errorData{Status: status, Message: msg, Back: backTo(r, "/")})
}

type errorData struct {
	Status  int
	Message string
	Detail  string // the error's own words, in English
	Back    string
	DBDown  bool // the message is the database banner's: not repeated
}

// backTo is the local path a form asked to return to (field "return"), or def.
func backTo(r *http.Request, def string) string { return localPath(r.FormValue("return"), def) }

// localPath returns p if it is a path on this site, else def. Only "/" itself or a
// "/" followed by a path character (RFC 3986 pchar) passes, with no control
// character, space or backslash anywhere: browsers drop tabs and newlines and read
// "\" as "/", so "/\t/evil.example" would take the operator to //evil.example.
// Nothing is stripped first; anything doubtful falls back.
func localPath(p, def string) string {
	if p == "/" {
		return p
	}
	if len(p) < 2 || p[0] != '/' || !isPathChar(p[1]) {
		return def
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == '\\' || c == 0x7f {
			return def
		}
	}
	return p
}

// isPathChar reports whether c may stand in a URL path segment (RFC 3986 pchar).
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~%!$&'()*+,;=:@", c) >= 0
}

// ProviderBalances implements Balances by building the provider account's client
// and asking it; wire it with the store and internal/providers.
type ProviderBalances struct {
	Accounts interface {
		FindProviderAccount(ctx context.Context, tenantID, id int64) (watan.ProviderAccount, error)
	}
	Providers interface {
		Provider(acct watan.ProviderAccount) (watan.Provider, error)
	}
}

// Balance asks the tenant's provider account for its balance.
func (p ProviderBalances) Balance(ctx context.Context, tenantID, providerAccountID int64) (watan.Balance, error) {
	acct, err := p.Accounts.FindProviderAccount(ctx, tenantID, providerAccountID)
	if err != nil {
		return watan.Balance{}, err
	}
	client, err := p.Providers.Provider(acct)
	if err != nil {
		return watan.Balance{}, err
	}
	b, err := client.Balance(ctx)
	if err != nil {
		// The clients redact their credentials from their errors (internal/redact).
		return watan.Balance{}, watan.Errorf(watan.ECodeUnavailable, "%v", err)
	}
	return b, nil
}
