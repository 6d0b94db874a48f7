// Package watanapi is the client of provider kind "watan": another watan (a tenant
// of another installation, or of this one) as the upstream of this one, spoken to
// through its own JSON API (/api/v1). It implements watan.Provider:
//
//   - place is POST /orders with client_order_id = our reference, so that a lost
//     reply or a crash is resolved by the upstream's idempotency: a repeat returns
//     the same order, never a second one;
//   - check is GET /orders/{id} when the upstream's order id is known, else GET
//     /client-orders/{reference};
//   - the upstream's error codes become our reject reasons (insufficient_balance is
//     out of balance, unknown_package and package_inactive a product unavailable,
//     unknown_account and 401 a misconfigured account), so that fallback works;
//   - balance is the upstream customer account's, catalog the upstream's packages.
//
// The API key never appears in what this package returns or logs.
package watanapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"watan"
	"watan/internal/egress"
	"watan/internal/redact"
	"watan/internal/upstream"
)

// Defaults for Config.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultRequestTimeout = 20 * time.Second
)

// Credential keys of a watan provider account.
const (
	CredAPIKey  = "api_key" // the upstream tenant's API key (wtn_…)
	CredAccount = "account" // the code of our customer account at the upstream
)

const (
	maxAnswer   = 1 << 20
	maxPages    = 100 // of 1000 packages each: a catalog larger than that is cut
	userAgent   = "watan"
	apiPrefix   = "api/v1"
	opPlace     = "place"
	opCheck     = "check"
	opBalance   = "balance"
	opCatalog   = "catalog"
	maxQuantity = 1000
)

// Explanations of failed calls, wrapped by the *watan.ProviderError a call returns.
var (
	// ErrUnauthorized is HTTP 401: the API key is wrong or revoked.
	ErrUnauthorized = errors.New("the API key is wrong or revoked")
	// ErrNotAPI is an answer that is not watan's JSON (a web page, another service).
	ErrNotAPI = errors.New("not a watan API answer: wrong base URL")
	// ErrUnavailable is HTTP 429, 503 or another 5xx: try again later.
	ErrUnavailable = errors.New("the upstream is unavailable")
	// ErrRefused is an error answer to a call that is not a placement.
	ErrRefused = errors.New("refused by the upstream")
)

// Config configures a Client.
type Config struct {
	// BaseURL is the upstream installation, e.g. "https://shop.example" (the API
	// lives under /api/v1). Required.
	BaseURL string
	// APIKey is the upstream tenant's API key. Required.
	APIKey watan.Secret
	// Account is the code of the customer account the upstream debits. Required.
	Account string
	// HTTPClient sends the requests. Default: a client of this Client's own whose
	// dialer gives up after ConnectTimeout. Redirects are never followed.
	HTTPClient *http.Client
	// Egress, if set, limits the addresses the default client may dial. Default
	// nil: any address. Ignored when HTTPClient is set.
	Egress *egress.Policy
	// ConnectTimeout bounds dialing of the default client. Default 5 s.
	ConnectTimeout time.Duration
	// RequestTimeout bounds one request. Default 20 s.
	RequestTimeout time.Duration
	// Logger receives a line per request, never the API key or a PIN. Default:
	// discard.
	Logger *slog.Logger
}

// Client talks to one upstream watan tenant. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	key      watan.Secret
	account  string
	http     *http.Client
	timeout  time.Duration
	log      *slog.Logger
	redactor *redact.Redactor
}

var _ watan.Provider = (*Client)(nil)

// New returns a client for the upstream cfg describes.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("watan: base URL %q must be an http or https URL such as https://shop.example", upstream.RedactURL(cfg.BaseURL))
	}
	base.User, base.RawPath = nil, ""
	base.Path = strings.TrimSuffix(strings.TrimSuffix(base.Path, "/"), "/"+apiPrefix)
	key := strings.TrimSpace(cfg.APIKey.Reveal())
	if key == "" {
		return nil, errors.New("watan: api_key is required")
	}
	account := strings.TrimSpace(cfg.Account)
	if account == "" {
		return nil, errors.New("watan: account (our customer account code at the upstream) is required")
	}
	c := &Client{base: base, key: watan.Secret(key), account: account, timeout: cfg.RequestTimeout, log: cfg.Logger}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("provider", "watan")
	c.http = upstream.NewHTTPClient(cfg.HTTPClient, cfg.ConnectTimeout, cfg.Egress)
	c.redactor = redact.New(key)
	return c, nil
}

// String describes the client without its key.
func (c *Client) String() string { return "watanapi.Client(" + c.base.String() + ")" }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Capabilities: one order per check; an order may be final in the placement answer
// (a repeat of a finished order, or an upstream that delivers from stock).
func (c *Client) Capabilities() watan.Capabilities {
	return watan.Capabilities{MaxBatch: 1, PINAtPlacement: true, CheckByReferans: true}
}

type reply struct {
	status int
	body   []byte
}

// do sends one request and returns the answer, or a *watan.ProviderError for a
// transport failure or a redirect. Statuses are the parsers' to read.
func (c *Client) do(ctx context.Context, op, method string, u *url.URL, body []byte) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return reply{}, upstream.Fail(op, watan.FailInvalid, c.redactor.Error(err))
	}
	req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, upstream.Fail(op, watan.FailTransport, c.redactor.Error(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return reply{}, upstream.Fail(op, watan.FailTransport, fmt.Errorf("reading the answer of %s: %w", u.Path, c.redactor.Error(err)))
	}
	if len(b) > maxAnswer {
		return reply{}, upstream.Fail(op, watan.FailProtocol, upstream.Detailf(ErrNotAPI, "answer of %s is larger than %d bytes", u.Path, maxAnswer))
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return reply{status: resp.StatusCode}, upstream.Fail(op, watan.FailMisconfigured,
			upstream.Detailf(ErrNotAPI, "%d redirect: wrong base URL", resp.StatusCode))
	}
	return reply{status: resp.StatusCode, body: b}, nil
}

func (c *Client) endpoint(elem ...string) *url.URL {
	u := c.base.JoinPath(append([]string{apiPrefix}, elem...)...)
	return u
}

// placeBody is watan's createOrderRequest.
type placeBody struct {
	Package       string `json:"package"`
	Account       string `json:"account"`
	Quantity      int    `json:"quantity"`
	PlayerID      string `json:"player_id"`
	Extra         string `json:"extra,omitempty"`
	ClientOrderID string `json:"client_order_id"`
}

// Place creates the order at the upstream under client_order_id = Referans. The
// mapping's product id is the upstream package code. A new order is accepted
// (pending); a repeat returns the order as it now is, final or not.
func (c *Client) Place(ctx context.Context, req watan.PlaceRequest) (watan.PlaceResult, error) {
	start := time.Now()
	res, err := c.place(ctx, req)
	attrs := []slog.Attr{slog.String("referans", req.Referans), slog.String("outcome", string(res.Outcome))}
	if res.ProviderOrderID != "" {
		attrs = append(attrs, slog.String("order_id", res.ProviderOrderID))
	}
	if res.Reason != "" {
		attrs = append(attrs, slog.String("reason", string(res.Reason)))
	}
	c.logCall(ctx, opPlace, start, err, attrs...)
	return res, err
}

func (c *Client) place(ctx context.Context, req watan.PlaceRequest) (watan.PlaceResult, error) {
	rejected := func(reason watan.RejectReason, format string, args ...any) (watan.PlaceResult, error) {
		return watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: reason, Message: fmt.Sprintf(format, args...) + "; nothing was sent"}, nil
	}
	if strings.TrimSpace(req.Referans) == "" {
		return watan.PlaceResult{Outcome: watan.PlaceUnknown}, upstream.Fail(opPlace, watan.FailInvalid, errors.New("referans is empty: client_order_id is required"))
	}
	pkg := strings.TrimSpace(req.ProductID)
	if pkg == "" {
		return rejected(watan.ReasonProductUnavailable, "the product mapping has no upstream package code")
	}
	qty := req.Quantity
	if qty == 0 {
		qty = 1
	}
	if qty < 1 || qty > maxQuantity {
		return rejected(watan.ReasonBadInput, "quantity %d is outside 1 to %d", qty, maxQuantity)
	}
	body, err := json.Marshal(placeBody{Package: pkg, Account: c.account, Quantity: qty, PlayerID: strings.TrimSpace(req.PlayerID),
		Extra: strings.TrimSpace(req.Extra), ClientOrderID: req.Referans})
	if err != nil {
		return watan.PlaceResult{Outcome: watan.PlaceUnknown}, upstream.Fail(opPlace, watan.FailInvalid, err)
	}
	r, err := c.do(ctx, opPlace, http.MethodPost, c.endpoint("orders"), body)
	if err != nil {
		return watan.PlaceResult{Outcome: watan.PlaceUnknown}, err
	}
	res, err := parsePlace(r.status, r.body)
	res.Message = c.redactor.Text(res.Message)
	return res, upstream.ScrubDetail(err, c.redactor.Text)
}

// Check asks about each order by the upstream's order id when known, else by our
// reference. The first failed request fails the whole Check.
func (c *Client) Check(ctx context.Context, refs []watan.CheckRef) ([]watan.CheckResult, error) {
	out := make([]watan.CheckResult, len(refs))
	for i, ref := range refs {
		start := time.Now()
		var u *url.URL
		switch {
		case strings.TrimSpace(ref.ProviderOrderID) != "":
			u = c.endpoint("orders", strings.TrimSpace(ref.ProviderOrderID))
		case strings.TrimSpace(ref.Referans) != "":
			u = c.endpoint("client-orders", strings.TrimSpace(ref.Referans))
		default:
			return nil, upstream.Fail(opCheck, watan.FailInvalid, fmt.Errorf("reference %d has neither an upstream order id nor a referans", i))
		}
		r, err := c.do(ctx, opCheck, http.MethodGet, u, nil)
		if err == nil {
			out[i], err = parseCheck(r.status, r.body)
		}
		out[i].Ref = ref
		if out[i].ProviderOrderID == "" {
			out[i].ProviderOrderID = ref.ProviderOrderID
		}
		out[i].Message = c.redactor.Text(out[i].Message)
		err = upstream.ScrubDetail(err, c.redactor.Text)
		c.logCall(ctx, opCheck, start, err, slog.String("referans", ref.Referans), slog.String("outcome", string(out[i].Outcome)))
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Balance returns our customer account's balance at the upstream.
func (c *Client) Balance(ctx context.Context) (watan.Balance, error) {
	start := time.Now()
	r, err := c.do(ctx, opBalance, http.MethodGet, c.endpoint("accounts", c.account), nil)
	var b watan.Balance
	if err == nil {
		b, err = parseBalance(r.status, r.body)
	}
	err = upstream.ScrubDetail(err, c.redactor.Text)
	c.logCall(ctx, opBalance, start, err, slog.String("balance", b.Amount))
	return b, err
}

// Catalog lists the upstream's packages, following its cursor. A package's code
// is the product id a mapping needs.
func (c *Client) Catalog(ctx context.Context) ([]watan.Product, error) {
	start := time.Now()
	var all []watan.Product
	cursor := ""
	var err error
	for range maxPages {
		u := c.endpoint("packages")
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		u.RawQuery = q.Encode()
		var r reply
		if r, err = c.do(ctx, opCatalog, http.MethodGet, u, nil); err != nil {
			break
		}
		var page []watan.Product
		if page, cursor, err = parseCatalog(r.status, r.body); err != nil {
			break
		}
		all = append(all, page...)
		if cursor == "" {
			break
		}
	}
	err = upstream.ScrubDetail(err, c.redactor.Text)
	c.logCall(ctx, opCatalog, start, err, slog.Int("products", len(all)))
	if err != nil {
		return nil, err
	}
	return all, nil
}

func (c *Client) logCall(ctx context.Context, op string, start time.Time, err error, attrs ...slog.Attr) {
	level := slog.LevelDebug
	all := append([]slog.Attr{slog.String("op", op), slog.Duration("took", time.Since(start))}, attrs...)
	if err != nil {
		level = slog.LevelWarn
		all = append(all, slog.String("err", c.redactor.Error(err).Error()))
		if pe, ok := errors.AsType[*watan.ProviderError](err); ok {
			all = append(all, slog.String("failure", string(pe.Kind)))
		}
	}
	c.log.LogAttrs(ctx, level, "watan upstream call", all...)
}

// idString renders an upstream order id as the text we store.
func idString(id int64) string { return strconv.FormatInt(id, 10) }
