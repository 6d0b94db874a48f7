package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"watan"
	"watan/internal/egress"
)

// Config is what New needs. The four services are required; the rest have defaults.
type Config struct {
	Tenants  watan.TenantService
	Accounts watan.AccountService
	Catalog  watan.CatalogService
	Orders   watan.OrderService

	// Operator carries out operators' actions (approve, reject, re-dispatch, set
	// manual, check now, resume a provider account). Default nil: those routes are
	// neither served nor documented, for a process that runs no engine.
	Operator Operator

	// Health shows provider accounts' circuit breakers and timelines
	// (*engine.Engine). Default nil: accounts show no circuit and the timeline
	// route is neither served nor documented.
	Health ProviderHealth

	// Webhooks manages the tenant's webhook endpoint and shows and resends
	// deliveries (*webhooks.Service). Default nil: those routes are neither served
	// nor documented.
	Webhooks watan.WebhookService

	// Money serves settings, exchange rates, price groups, reports and
	// statements (*store.Store). Default nil: those routes are neither served nor
	// documented.
	Money Money

	// Logger receives one line per request (method, path, status, duration, tenant;
	// never headers) and the detail of internal errors. Default: discard.
	Logger *slog.Logger
	// MaxBodyBytes bounds JSON request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// MaxImportBytes bounds code-import bodies (CSV or JSON lines), which are
	// legitimately large. Default 16 MiB.
	MaxImportBytes int64
	// RatePerSecond and RateBurst limit the requests of one client address: beyond
	// them it gets 429 rate_limited with Retry-After. Default 0: no limit (serve
	// sets DefaultRatePerSecond and DefaultRateBurst unless told otherwise). A
	// RateBurst of 0 means twice RatePerSecond.
	RatePerSecond float64
	RateBurst     int
	// Clock tells the rate limiter the time. Default watan.SystemClock.
	Clock watan.Clock
	// RescueAfter is the job queue's rescue time (serve's --rescue-after): a
	// provider account's request timeout must stay below half of it, so that no
	// job is presumed dead while its provider call may still run. Default 0: only
	// the fixed bound (watan.MaxRequestTimeout) applies.
	RescueAfter time.Duration
	// Unavailable, if set, reports errors that mean a dependency (the database)
	// cannot serve right now (store.IsUnavailable); they answer 503 unavailable
	// with Retry-After instead of 500 internal. Default nil: every unexpected
	// error is internal.
	Unavailable func(error) bool
	// Egress, if set, refuses provider base URLs it does not allow (private and
	// loopback addresses by default; see package egress). Default nil: no check.
	Egress *egress.Policy
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxImportBytes = 16 << 20
	DefaultRatePerSecond  = 50
	DefaultRateBurst      = 100
)

// Prefix is the path under which every route lives.
const Prefix = "/api/v1"

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	tenants     watan.TenantService
	accounts    watan.AccountService
	catalog     watan.CatalogService
	orders      watan.OrderService
	operator    Operator             // nil: no operator routes
	health      ProviderHealth       // nil: no circuits, no provider timelines
	webhooks    watan.WebhookService // nil: no webhook routes
	money       Money                // nil: no money routes
	log         *slog.Logger
	maxBody     int64
	maxBulk     int64
	limiter     *clientLimiter // nil: no rate limit
	egress      *egress.Policy // nil: provider base URLs are not checked
	rescue      time.Duration  // 0: no bound from the job queue
	unavailable func(error) bool

	mux     *http.ServeMux
	table   []route
	openapi []byte // built once by New: the table does not change afterwards
}

// New returns a Handler serving every route under Prefix. It panics if a service is
// missing, because that is a wiring bug that no request could recover from.
func New(cfg Config) *Handler {
	if cfg.Tenants == nil || cfg.Accounts == nil || cfg.Catalog == nil || cfg.Orders == nil {
		panic("httpapi: Config needs Tenants, Accounts, Catalog and Orders")
	}
	h := &Handler{
		tenants:     cfg.Tenants,
		accounts:    cfg.Accounts,
		catalog:     cfg.Catalog,
		orders:      cfg.Orders,
		operator:    cfg.Operator,
		health:      cfg.Health,
		webhooks:    cfg.Webhooks,
		money:       cfg.Money,
		log:         cfg.Logger,
		maxBody:     cfg.MaxBodyBytes,
		maxBulk:     cfg.MaxImportBytes,
		egress:      cfg.Egress,
		rescue:      cfg.RescueAfter,
		unavailable: cfg.Unavailable,
		mux:         http.NewServeMux(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.maxBulk <= 0 {
		h.maxBulk = DefaultMaxImportBytes
	}
	if cfg.RatePerSecond > 0 {
		clock := cfg.Clock
		if clock == nil {
			clock = watan.SystemClock{}
		}
		burst := cfg.RateBurst
		if burst <= 0 {
			burst = max(1, int(2*cfg.RatePerSecond))
		}
		h.limiter = newClientLimiter(cfg.RatePerSecond, burst, clock.Now)
	}
	h.table = h.routes()
	for _, rt := range h.table {
		h.mux.Handle(rt.method+" "+rt.path, h.wrap(rt))
	}
	doc, err := buildOpenAPI(h.table)
	if err != nil {
		panic(fmt.Sprintf("httpapi: building the OpenAPI document: %v", err))
	}
	h.openapi = doc
	return h
}

// bodyKind says what a route reads from the request body, which sets its size limit
// and its OpenAPI request body.
type bodyKind int

const (
	bodyNone         bodyKind = iota
	bodyJSON                  // one JSON object, at most MaxBodyBytes
	bodyOptionalJSON          // as bodyJSON, but an empty body is the empty object
	bodyImport                // CSV or JSON lines, at most MaxImportBytes
)

// route is one row of the table: how to match a request, how to serve it, and how
// to document it.
type route struct {
	method string
	path   string // a ServeMux pattern path, e.g. /api/v1/orders/{id}
	handle func(http.ResponseWriter, *http.Request) error
	public bool // served without an API key
	// operator marks the routes of Config.Operator, left out when it is nil.
	operator bool
	// webhooks marks the routes of Config.Webhooks, left out when it is nil.
	webhooks bool
	// health marks the routes of Config.Health, left out when it is nil.
	health bool
	// money marks the routes of Config.Money, left out when it is nil.
	money bool
	body  bodyKind
	doc   op
}

// routes is the API: every route, in one table.
func (h *Handler) routes() []route {
	const p = Prefix
	table := []route{
		{method: "GET", path: p + "/openapi.json", handle: h.getOpenAPI, public: true, doc: docOpenAPI},

		{method: "POST", path: p + "/orders", handle: h.createOrder, body: bodyJSON, doc: docCreateOrder},
		{method: "GET", path: p + "/orders", handle: h.listOrders, doc: docListOrders},
		{method: "GET", path: p + "/orders/{id}", handle: h.getOrder, doc: docGetOrder},
		{method: "GET", path: p + "/client-orders/{client_order_id}", handle: h.getOrderByClientID, doc: docGetOrderByClientID},
		{method: "GET", path: p + "/orders/{id}/events", handle: h.orderEvents, doc: docOrderEvents},
		{method: "POST", path: p + "/orders/{id}/approve", handle: h.approveOrder, operator: true, body: bodyOptionalJSON, doc: docApproveOrder},
		{method: "POST", path: p + "/orders/{id}/reject", handle: h.rejectOrder, operator: true, body: bodyOptionalJSON, doc: docRejectOrder},
		{method: "POST", path: p + "/orders/{id}/redispatch", handle: h.redispatchOrder, operator: true, body: bodyJSON, doc: docRedispatchOrder},
		{method: "POST", path: p + "/orders/{id}/manual", handle: h.setOrderManual, operator: true, body: bodyOptionalJSON, doc: docSetOrderManual},
		{method: "POST", path: p + "/orders/{id}/check", handle: h.checkOrder, operator: true, body: bodyOptionalJSON, doc: docCheckOrder},

		{method: "POST", path: p + "/packages", handle: h.createPackage, body: bodyJSON, doc: docCreatePackage},
		{method: "GET", path: p + "/packages", handle: h.listPackages, doc: docListPackages},
		{method: "GET", path: p + "/packages/{code}", handle: h.getPackage, doc: docGetPackage},
		{method: "PATCH", path: p + "/packages/{code}", handle: h.patchPackage, body: bodyJSON, doc: docPatchPackage},
		{method: "PUT", path: p + "/packages/{code}", handle: h.putPackage, body: bodyJSON, doc: docPutPackage},
		{method: "PUT", path: p + "/packages/{code}/routing", handle: h.putRouting, body: bodyJSON, doc: docPutRouting},
		{method: "GET", path: p + "/packages/{code}/mappings", handle: h.listMappings, doc: docListMappings},
		{method: "GET", path: p + "/packages/{code}/mappings/{provider_account_id}", handle: h.getMapping, doc: docGetMapping},
		{method: "PUT", path: p + "/packages/{code}/mappings/{provider_account_id}", handle: h.putMapping, body: bodyJSON, doc: docPutMapping},

		{method: "POST", path: p + "/provider-accounts", handle: h.createProviderAccount, body: bodyJSON, doc: docCreateProviderAccount},
		{method: "GET", path: p + "/provider-accounts", handle: h.listProviderAccounts, doc: docListProviderAccounts},
		{method: "GET", path: p + "/provider-accounts/{id}", handle: h.getProviderAccount, doc: docGetProviderAccount},
		{method: "PATCH", path: p + "/provider-accounts/{id}", handle: h.patchProviderAccount, body: bodyJSON, doc: docPatchProviderAccount},
		{method: "POST", path: p + "/provider-accounts/{id}/resume", handle: h.resumeProviderAccount, operator: true, body: bodyOptionalJSON, doc: docResumeProviderAccount},
		{method: "POST", path: p + "/provider-accounts/{id}/pause", handle: h.pauseProviderAccount, operator: true, body: bodyOptionalJSON, doc: docPauseProviderAccount},
		{method: "GET", path: p + "/provider-accounts/{id}/events", handle: h.providerAccountEvents, health: true, doc: docProviderAccountEvents},

		{method: "POST", path: p + "/accounts", handle: h.createAccount, body: bodyJSON, doc: docCreateAccount},
		{method: "GET", path: p + "/accounts", handle: h.listAccounts, doc: docListAccounts},
		{method: "GET", path: p + "/accounts/{code}", handle: h.getAccount, doc: docGetAccount},
		{method: "POST", path: p + "/accounts/{code}/topups", handle: h.topUp, body: bodyJSON, doc: docTopUp},
		{method: "GET", path: p + "/accounts/{code}/ledger", handle: h.ledger, doc: docLedger},

		{method: "POST", path: p + "/code-groups", handle: h.createCodeGroup, body: bodyJSON, doc: docCreateCodeGroup},
		{method: "GET", path: p + "/code-groups", handle: h.listCodeGroups, doc: docListCodeGroups},
		{method: "GET", path: p + "/code-groups/{id}", handle: h.getCodeGroup, doc: docGetCodeGroup},
		{method: "POST", path: p + "/code-groups/{id}/codes", handle: h.importCodes, body: bodyImport, doc: docImportCodes},
		{method: "GET", path: p + "/code-groups/{id}/codes", handle: h.listCodes, doc: docListCodes},

		{method: "GET", path: p + "/api-keys", handle: h.listAPIKeys, doc: docListAPIKeys},
		{method: "POST", path: p + "/api-keys", handle: h.createAPIKey, body: bodyJSON, doc: docCreateAPIKey},
		{method: "DELETE", path: p + "/api-keys/{id}", handle: h.revokeAPIKey, doc: docRevokeAPIKey},
		{method: "POST", path: p + "/api-keys/{id}/rotate", handle: h.rotateAPIKey, body: bodyOptionalJSON, doc: docRotateAPIKey},

		{method: "GET", path: p + "/webhook-endpoint", handle: h.getWebhookEndpoint, webhooks: true, doc: docGetWebhookEndpoint},
		{method: "PUT", path: p + "/webhook-endpoint", handle: h.putWebhookEndpoint, webhooks: true, body: bodyJSON, doc: docPutWebhookEndpoint},
		{method: "GET", path: p + "/orders/{id}/webhooks", handle: h.orderWebhooks, webhooks: true, doc: docOrderWebhooks},
		{method: "GET", path: p + "/webhook-deliveries", handle: h.listWebhookDeliveries, webhooks: true, doc: docListWebhookDeliveries},
		{method: "POST", path: p + "/webhook-deliveries/{id}/resend", handle: h.resendWebhook, webhooks: true, body: bodyOptionalJSON, doc: docResendWebhook},

		{method: "GET", path: p + "/settings", handle: h.getSettings, money: true, doc: docGetSettings},
		{method: "PATCH", path: p + "/settings", handle: h.patchSettings, money: true, body: bodyJSON, doc: docPatchSettings},
		{method: "GET", path: p + "/exchange-rates", handle: h.getRates, money: true, doc: docGetRates},
		{method: "POST", path: p + "/exchange-rates", handle: h.setRate, money: true, body: bodyJSON, doc: docSetRate},
		{method: "POST", path: p + "/price-groups", handle: h.createPriceGroup, money: true, body: bodyJSON, doc: docCreatePriceGroup},
		{method: "GET", path: p + "/price-groups", handle: h.listPriceGroups, money: true, doc: docListPriceGroups},
		{method: "GET", path: p + "/packages/{code}/prices", handle: h.listPackagePrices, money: true, doc: docListPackagePrices},
		{method: "PUT", path: p + "/packages/{code}/prices/{group}", handle: h.setPackagePrice, money: true, body: bodyJSON, doc: docSetPackagePrice},
		{method: "PUT", path: p + "/accounts/{code}/price-group", handle: h.setAccountGroup, money: true, body: bodyJSON, doc: docSetAccountGroup},
		{method: "GET", path: p + "/accounts/{code}/statement", handle: h.statement, money: true, doc: docStatement},
		{method: "GET", path: p + "/reports", handle: h.report, money: true, doc: docReport},
	}
	if h.money == nil {
		table = slices.DeleteFunc(table, func(rt route) bool { return rt.money })
	}
	if h.webhooks == nil {
		table = slices.DeleteFunc(table, func(rt route) bool { return rt.webhooks })
	}
	if h.operator == nil {
		// Unserved rather than answering 501: a route the document lists must work.
		table = slices.DeleteFunc(table, func(rt route) bool { return rt.operator })
	}
	if h.health == nil {
		table = slices.DeleteFunc(table, func(rt route) bool { return rt.health })
	}
	return table
}

// requestInfo travels in the request context so that the outer logging layer learns
// what inner layers found out (the tenant) without a second lookup, and handlers
// learn which key they act for.
type requestInfo struct {
	tenantID int64
	keyID    int64
	keyName  string
}

type requestInfoKey struct{}

// TenantID returns the tenant that the request's API key authenticated, or false
// for a request that was not authenticated (yet).
func TenantID(ctx context.Context) (int64, bool) {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if info == nil || info.tenantID == 0 {
		return 0, false
	}
	return info.tenantID, true
}

// tenantOf is TenantID for handlers behind authentication, where it is always set;
// a zero result can only match nothing, so a wiring mistake fails closed.
func tenantOf(r *http.Request) int64 {
	id, _ := TenantID(r.Context())
	return id
}

// actorOf is the operator an operator action is recorded as: the authenticated API
// key, by name (by id for a key created without one), so that the timeline says
// which key, and so which tool or person, acted.
func actorOf(r *http.Request) watan.Actor {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	if info == nil {
		return watan.OperatorActor("api-key:?") // unreachable behind authenticate
	}
	name := info.keyName
	if name == "" {
		name = "#" + strconv.FormatInt(info.keyID, 10)
	}
	return watan.OperatorActor("api-key:" + name)
}

// ServeHTTP logs the request, recovers panics, and answers requests that match no
// route with JSON errors instead of the mux's plain-text ones.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.ErrorContext(r.Context(), "panic serving request",
				"method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if !sw.wroteHeader {
				writeError(sw, http.StatusInternalServerError, watan.ECodeInternal, "internal error")
			}
		}
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status()),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", sw.bytes),
			slog.Int64("tenant", info.tenantID),
		)
	}()
	if h.limiter != nil {
		if ok, wait := h.limiter.allow(clientAddress(r)); !ok {
			sw.Header().Set("Retry-After", retryAfter(wait))
			writeError(sw, http.StatusTooManyRequests, watan.ECodeRateLimited,
				fmt.Sprintf("too many requests from this address; retry in %s s", retryAfter(wait)))
			return
		}
	}
	if fallback, pattern := h.mux.Handler(r); pattern == "" {
		h.unrouted(sw, r, fallback)
		return
	}
	h.mux.ServeHTTP(sw, r)
}

// unrouted turns the mux's plain-text 404 and 405 into JSON errors. It runs the mux's
// own fallback handler to learn which it is (and the Allow header), because the mux
// does not expose that decision otherwise.
func (h *Handler) unrouted(w http.ResponseWriter, r *http.Request, fallback http.Handler) {
	rec := &captureWriter{header: http.Header{}}
	fallback.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, watan.ECodeNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		// 405 is the one status not in statusByCode: watan.ErrorCodes has no
		// method_not_allowed code, so the closest stable code goes with the right status.
		writeError(w, http.StatusMethodNotAllowed, watan.ECodeBadRequest,
			fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
	default: // the mux's redirects to a cleaned path
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// wrap applies what every route needs before its handler runs: authentication, the
// body size limit, and valid text in the path and query.
func (h *Handler) wrap(rt route) http.Handler {
	limit := h.maxBody
	if rt.body == bodyImport {
		limit = h.maxBulk
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.public {
			if err := h.authenticate(r); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		// A declared length over the limit is refused before reading a byte; the
		// MaxBytesReader catches chunked bodies that lie or declare nothing.
		if r.ContentLength > limit {
			h.fail(w, r, tooLarge(limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := checkURLText(r); err != nil {
			h.fail(w, r, err)
			return
		}
		if err := rt.handle(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// authenticate resolves the bearer token to a tenant and records it in the request's
// info. Store failures are passed on as they are, so that a database outage is a 5xx
// and not a misleading 401. Nothing is cached here: the store may cache accepted
// keys briefly (watan serve: one second, see store.Config.APIKeyCacheTTL) and
// drops a key it revokes at once, so every handler over one store refuses a
// revoked key on its next request, and other nodes within that second.
func (h *Handler) authenticate(r *http.Request) error {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return watan.Errorf(watan.ECodeUnauthorized, "an API key is required: Authorization: Bearer <key>")
	}
	key, err := h.tenants.AuthenticateAPIKey(r.Context(), token)
	if err != nil {
		return fmt.Errorf("authenticating API key: %w", err)
	}
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	if info == nil || key.TenantID == 0 {
		return fmt.Errorf("authenticating API key: no tenant for key %d", key.ID)
	}
	info.tenantID, info.keyID, info.keyName = key.TenantID, key.ID, key.Name
	return nil
}

func (h *Handler) getOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(h.openapi)
	if err != nil {
		// The client went away mid-response; nothing useful can be sent now.
		h.log.DebugContext(r.Context(), "writing openapi.json", "err", err)
	}
	return nil
}

// statusWriter remembers the status and size of a response for the request log.
type statusWriter struct {
	http.ResponseWriter
	code        int
	bytes       int64
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// captureWriter records a response without sending it.
type captureWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.body.Write(b)
}

// checkTarget applies the egress policy to a provider base URL about to be saved.
func (h *Handler) checkTarget(raw string) error {
	if h.egress == nil {
		return nil
	}
	if err := h.egress.CheckURL(raw); err != nil {
		return invalid("base_url %v", err)
	}
	return nil
}

// checkSettings applies watan's bounds, and the job queue's: a call may not
// outlast half the rescue time.
func (h *Handler) checkSettings(kind watan.ProviderKind, s watan.ProviderSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := s.ValidateFor(kind); err != nil {
		return err
	}
	if d := s.WithDefaults(kind).RequestTimeout; h.rescue > 0 && 2*d >= h.rescue {
		return invalid("request_timeout %s must be below half of the installation's rescue time (%s)", d, h.rescue)
	}
	return nil
}
