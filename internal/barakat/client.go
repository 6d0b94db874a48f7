// Package barakat is a client for the barakat/apstore API (the same protocol under
// several store names): JSON over HTTP GET, authenticated by an "api-token" header.
// Client implements watan.Provider and classifies every answer as providers.md §2
// prescribes: the status vocabulary of §2.5, delivery at placement, batch status of
// up to 100 orders, and lookup by our own reference (order_uuid) when an order's
// placement outcome is unknown.
//
// The token never appears in what this package returns or logs; provider text
// that echoes it is scrubbed.
package barakat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"watan"
	"watan/internal/egress"
	"watan/internal/redact"
	"watan/internal/upstream"
)

// Defaults for Config, the values barakat was run with in production.
const (
	DefaultBaseURL        = "https://api.x-stor.net"
	DefaultConnectTimeout = 5 * time.Second
	DefaultRequestTimeout = 30 * time.Second
)

// MaxBatch is the number of orders one check request may carry.
const MaxBatch = 100

// DefaultPlayerParam is the query parameter that carries the player id when a
// mapping does not name one (ParamPlayer absent).
const DefaultPlayerParam = "uid"

const (
	maxAnswer  = 4 << 20
	maxCatalog = 16 << 20
	userAgent  = "watan"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the store's API, e.g. "https://api.x-stor.net". Default
	// DefaultBaseURL.
	BaseURL string
	// Token is the api-token. Required.
	Token watan.Secret
	// HTTPClient sends the requests. Default: a client of this Client's own whose
	// dialer and TLS handshake give up after ConnectTimeout. Redirects are never
	// followed, with either client: net/http would forward the api-token header
	// to wherever a redirect points.
	HTTPClient *http.Client
	// Egress, if set, limits the addresses the default client may dial (see package
	// egress). Default nil: any address. Ignored when HTTPClient is set.
	Egress *egress.Policy
	// ConnectTimeout bounds dialing and the TLS handshake of the default client.
	// Default 5 s. Ignored when HTTPClient is set.
	ConnectTimeout time.Duration
	// RequestTimeout bounds one request, from dialing to the answer's last byte.
	// Default 30 s.
	RequestTimeout time.Duration
	// Logger receives a line per request: operation, endpoint, references, HTTP
	// status, duration and outcome, never the token or a PIN. Default: discard.
	Logger *slog.Logger
}

// Client talks to one barakat account. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	token    watan.Secret
	http     *http.Client
	timeout  time.Duration
	log      *slog.Logger
	redactor *redact.Redactor
}

var _ watan.Provider = (*Client)(nil)

// New returns a client for the account cfg describes.
func New(cfg Config) (*Client, error) {
	raw := strings.TrimSpace(cfg.BaseURL)
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("barakat: base URL %q must be an http or https URL such as %s", upstream.RedactURL(raw), DefaultBaseURL)
	}
	base.User, base.Path, base.RawPath = nil, strings.TrimSuffix(base.Path, "/"), ""
	token := strings.TrimSpace(cfg.Token.Reveal())
	if token == "" {
		return nil, errors.New("barakat: token is required")
	}
	c := &Client{base: base, token: watan.Secret(token), timeout: cfg.RequestTimeout, log: cfg.Logger}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("provider", "barakat")
	c.http = upstream.NewHTTPClient(cfg.HTTPClient, cfg.ConnectTimeout, cfg.Egress)
	c.redactor = redact.New(token)
	return c, nil
}

// scrub removes the token from provider text before it reaches a result or a log.
func (c *Client) scrub(s string) string { return c.redactor.Text(s) }

// clean returns err, or a plain error with the same words minus the token if its
// text contains it.
func (c *Client) clean(err error) error { return c.redactor.Error(err) }

// String and GoString describe the client without its token: fmt cannot call
// watan.Secret's methods on unexported fields, so printing the struct would show
// it.
func (c *Client) String() string { return "barakat.Client(" + c.base.String() + ")" }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Capabilities of the barakat protocol.
func (c *Client) Capabilities() watan.Capabilities {
	return watan.Capabilities{BatchCheck: true, MaxBatch: MaxBatch, PINAtPlacement: true, CheckByReferans: true}
}

type reply struct {
	status int
	body   []byte
}

// get calls the API at u (a path under the base URL, already with its query) and
// returns the answer, or a *watan.ProviderError for a transport failure or a
// redirect. Other statuses are for the parsers, which read them with the body.
func (c *Client) get(ctx context.Context, op string, u *url.URL, limit int64) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	where := *u
	where.RawQuery = ""

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return reply{}, upstream.Fail(op, watan.FailInvalid, c.clean(err))
	}
	// Set directly, not with Header.Set, so the name goes on the wire as the
	// protocol spells it ("api-token", not "Api-Token").
	req.Header["api-token"] = []string{c.token.Reveal()}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		// Errors name the URL without its query: player ids are nobody's business
		// in a log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = &url.Error{Op: ue.Op, URL: where.String(), Err: c.clean(ue.Err)}
		}
		return reply{}, upstream.Fail(op, watan.FailTransport, c.clean(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return reply{}, upstream.Fail(op, watan.FailTransport, fmt.Errorf("reading the answer of %s: %w", where.String(), c.clean(err)))
	}
	if int64(len(body)) > limit {
		return reply{}, unexpected(op, "answer of %s is larger than %d bytes", where.Path, limit)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := "(nowhere)"
		if l, err := resp.Location(); err == nil {
			l.RawQuery, l.User = "", nil
			loc = l.String()
		}
		return reply{status: resp.StatusCode}, upstream.Fail(op, watan.FailMisconfigured,
			upstream.Detailf(ErrHTTPStatus, "%d redirect to %s: wrong base URL", resp.StatusCode, loc))
	}
	return reply{status: resp.StatusCode, body: body}, nil
}

func (c *Client) endpoint(query url.Values, elem ...string) *url.URL {
	u := c.base.JoinPath(append([]string{"client", "api"}, elem...)...)
	u.RawQuery = query.Encode()
	return u
}

// Balance returns the account's balance (profile).
func (c *Client) Balance(ctx context.Context) (watan.Balance, error) {
	start := time.Now()
	r, err := c.get(ctx, opBalance, c.endpoint(nil, "profile"), maxAnswer)
	var b watan.Balance
	if err == nil {
		b, err = parseProfile(r.status, r.body)
	}
	c.logCall(ctx, opBalance, r.status, start, err, slog.String("balance", b.Amount))
	return b, c.cleanErr(err)
}

// Catalog lists the account's products. Each product's Params name the query
// parameters that carry the player id and the extra input (ParamPlayer,
// ParamExtra), taken from its declared params, so that a mapping copied from it
// places correctly.
func (c *Client) Catalog(ctx context.Context) ([]watan.Product, error) {
	start := time.Now()
	r, err := c.get(ctx, opCatalog, c.endpoint(nil, "products"), maxCatalog)
	var ps []watan.Product
	if err == nil {
		ps, err = parseProducts(r.status, r.body)
	}
	for i := range ps {
		ps[i].Name = c.scrub(ps[i].Name)
	}
	c.logCall(ctx, opCatalog, r.status, start, err, slog.Int("products", len(ps)))
	return ps, c.cleanErr(err)
}

// Place sends newOrder/{ProductID}/params with qty, order_uuid = Referans and the
// product's parameters:
//
//   - the player id goes to the parameter Params[ParamPlayer] names, "uid" when
//     the key is absent, nowhere when it is present and empty;
//   - Extra goes to the parameter Params[ParamExtra] names, if any;
//   - every other key of Params is copied as a fixed parameter (e.g. "server").
//
// Phone is not part of the protocol and is not sent. An answer with a delivered
// status is PlaceDelivered with its PIN; an answer saying the order_uuid was used
// before is PlaceUnknown with a nil error.
func (c *Client) Place(ctx context.Context, req watan.PlaceRequest) (watan.PlaceResult, error) {
	start := time.Now()
	u, res, err := c.placeURL(req)
	if err != nil || res.Outcome != "" {
		c.logCall(ctx, opPlace, 0, start, err, slog.String("referans", req.Referans), slog.String("outcome", string(res.Outcome)))
		return res, err
	}
	r, err := c.get(ctx, opPlace, u, maxAnswer)
	var a placeAnswer
	if err == nil {
		a, err = parsePlace(r.status, r.body)
	} else {
		a.Outcome = watan.PlaceUnknown
	}
	a.Message = c.scrub(a.Message)
	attrs := []slog.Attr{slog.String("referans", req.Referans), slog.String("outcome", string(a.Outcome))}
	if a.ProviderOrderID != "" {
		attrs = append(attrs, slog.String("order_id", a.ProviderOrderID))
	}
	if a.Reason != "" {
		attrs = append(attrs, slog.String("reason", string(a.Reason)))
	}
	if a.rawStatus != "" {
		c.log.LogAttrs(ctx, slog.LevelWarn, "barakat status word not in the vocabulary: taken as pending",
			slog.String("op", opPlace), slog.String("status", c.scrub(a.rawStatus)), slog.String("referans", req.Referans))
	}
	c.logCall(ctx, opPlace, r.status, start, err, attrs...)
	return a.PlaceResult, c.cleanErr(err)
}

// placeURL builds the newOrder URL, or the result of a request that cannot be
// sent: a mapping problem is refused here as the store would refuse it.
func (c *Client) placeURL(req watan.PlaceRequest) (*url.URL, watan.PlaceResult, error) {
	if strings.TrimSpace(req.Referans) == "" {
		return nil, watan.PlaceResult{Outcome: watan.PlaceUnknown},
			upstream.Fail(opPlace, watan.FailInvalid, errors.New("referans is empty: order_uuid is required"))
	}
	rejected := func(reason watan.RejectReason, msg string) (*url.URL, watan.PlaceResult, error) {
		return nil, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: reason, Message: msg + "; nothing was sent"}, nil
	}
	id := strings.TrimSpace(req.ProductID)
	if id == "" || id == "." || id == ".." {
		return rejected(watan.ReasonProductUnavailable, fmt.Sprintf("the product mapping has no usable barakat product id (%q)", req.ProductID))
	}
	qty := req.Quantity
	if qty == 0 {
		qty = 1
	}
	if qty < 0 {
		return rejected(watan.ReasonBadInput, fmt.Sprintf("quantity %d is negative", qty))
	}
	q := url.Values{"qty": {strconv.Itoa(qty)}, "order_uuid": {req.Referans}}
	player, ok := req.Params[ParamPlayer]
	if !ok {
		player = DefaultPlayerParam
	}
	extra := req.Params[ParamExtra]
	for k, v := range req.Params {
		switch k {
		case ParamPlayer, ParamExtra:
		case "qty", "order_uuid", player, extra:
			return rejected(watan.ReasonProductUnavailable, fmt.Sprintf("the product mapping sets %q, which the order itself fills", k))
		default:
			q.Set(k, v)
		}
	}
	if player != "" {
		q.Set(player, strings.TrimSpace(req.PlayerID))
	}
	if extra != "" && strings.TrimSpace(req.Extra) != "" {
		q.Set(extra, strings.TrimSpace(req.Extra))
	}
	// PathEscape keeps a "/" in an id from changing the path; "." and ".." were
	// refused above because path cleaning would.
	return c.endpoint(q, "newOrder", url.PathEscape(id), "params"), watan.PlaceResult{}, nil
}

// Check asks about orders in batches of up to MaxBatch: by the provider's order id
// when known, otherwise by our reference (uuid=1); a mixed list takes a request of
// each kind. Orders the answer does not mention are CheckNotFound. The first failed
// request fails the whole Check.
func (c *Client) Check(ctx context.Context, refs []watan.CheckRef) ([]watan.CheckResult, error) {
	results := make([]watan.CheckResult, len(refs))
	var byID, byUUID []int
	for i, r := range refs {
		results[i].Ref = r
		switch {
		case strings.TrimSpace(r.ProviderOrderID) != "":
			byID = append(byID, i)
		case strings.TrimSpace(r.Referans) != "":
			byUUID = append(byUUID, i)
		default:
			return nil, upstream.Fail(opCheck, watan.FailInvalid, fmt.Errorf("reference %d has neither a provider order id nor a referans", i))
		}
	}
	for batch := range slices.Chunk(byID, MaxBatch) {
		if err := c.checkBatch(ctx, refs, results, batch, false); err != nil {
			return nil, err
		}
	}
	for batch := range slices.Chunk(byUUID, MaxBatch) {
		if err := c.checkBatch(ctx, refs, results, batch, true); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func checkKey(r watan.CheckRef, byUUID bool) string {
	if byUUID {
		return strings.TrimSpace(r.Referans)
	}
	return strings.TrimSpace(r.ProviderOrderID)
}

// checkBatch asks about refs[idx] (all by id, or all by uuid) in one request and
// fills their results.
func (c *Client) checkBatch(ctx context.Context, refs []watan.CheckRef, results []watan.CheckResult, idx []int, byUUID bool) error {
	var keys []string
	for _, i := range idx {
		if k := checkKey(refs[i], byUUID); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	items, err := c.requestCheck(ctx, keys, byUUID)
	if err != nil {
		return err
	}
	found := map[string]checkItem{}
	anonymous := 0 // items that do not say which order they are
	for _, it := range items {
		k := it.orderID
		if byUUID {
			k = it.uuid
		}
		if k == "" {
			anonymous++
			continue
		}
		if _, dup := found[k]; !dup {
			found[k] = it
		}
	}
	if byUUID && anonymous > 0 && len(found) == 0 {
		switch {
		case len(keys) == 1 && len(items) == 1:
			found[keys[0]] = items[0] // the only order asked about
		case len(keys) > 1:
			// The store does not echo order_uuid: only one-by-one requests can
			// tell the answers apart.
			for _, i := range idx {
				if err := c.checkBatch(ctx, refs, results, []int{i}, true); err != nil {
					return err
				}
			}
			return nil
		}
	}
	for _, i := range idx {
		it, ok := found[checkKey(refs[i], byUUID)]
		switch {
		case ok:
			results[i] = watan.CheckResult{Ref: refs[i], Outcome: it.outcome, ProviderOrderID: it.orderID,
				PIN: it.pin, Message: c.scrub(it.message)}
			if results[i].ProviderOrderID == "" {
				results[i].ProviderOrderID = refs[i].ProviderOrderID
			}
			if it.rawStatus != "" {
				c.log.LogAttrs(ctx, slog.LevelWarn, "barakat status word not in the vocabulary: taken as pending",
					slog.String("op", opCheck), slog.String("status", c.scrub(it.rawStatus)), slog.String("order_id", it.orderID))
			}
		case anonymous > 0:
			// Absence proves nothing when some answers are unlabeled.
			results[i] = watan.CheckResult{Ref: refs[i], Outcome: watan.CheckUnknown, ProviderOrderID: refs[i].ProviderOrderID,
				Message: "the provider's answer does not say which order each status is for"}
		default:
			results[i] = watan.CheckResult{Ref: refs[i], Outcome: watan.CheckNotFound, ProviderOrderID: refs[i].ProviderOrderID}
		}
	}
	return nil
}

// requestCheck sends one check request for keys.
func (c *Client) requestCheck(ctx context.Context, keys []string, byUUID bool) ([]checkItem, error) {
	start := time.Now()
	q := url.Values{"orders": {ordersJSON(keys, byUUID)}}
	if byUUID {
		q.Set("uuid", "1")
	}
	r, err := c.get(ctx, opCheck, c.endpoint(q, "check"), maxAnswer)
	var items []checkItem
	if err == nil {
		items, err = parseCheck(r.status, r.body)
	}
	c.logCall(ctx, opCheck, r.status, start, err, slog.Int("orders", len(keys)), slog.Bool("by_uuid", byUUID),
		slog.Int("answered", len(items)))
	return items, c.cleanErr(err)
}

// ordersJSON renders the orders parameter. Provider order ids that are plain
// numbers go as JSON numbers, as providers.md shows ([67890,67891]); anything else,
// and every order_uuid, goes as a JSON string. Numbers stop at 15 digits so that a
// store parsing them as doubles cannot round them.
func ordersJSON(keys []string, byUUID bool) string {
	vals := make([]any, len(keys))
	for i, k := range keys {
		if !byUUID && len(k) <= 15 && isDigits(k) && (k == "0" || k[0] != '0') {
			vals[i] = json.Number(k)
		} else {
			vals[i] = k
		}
	}
	b, err := json.Marshal(vals)
	if err != nil {
		panic(err) // strings and digit-only numbers always marshal
	}
	return string(b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cleanErr scrubs the token from the provider's words an error quotes.
func (c *Client) cleanErr(err error) error { return upstream.ScrubDetail(err, c.scrub) }

// logCall writes the one line a call produces: debug when it succeeded, a warning
// when it failed.
func (c *Client) logCall(ctx context.Context, op string, status int, start time.Time, err error, attrs ...slog.Attr) {
	level := slog.LevelDebug
	all := []slog.Attr{slog.String("op", op)}
	if status != 0 {
		all = append(all, slog.Int("http_status", status))
	}
	all = append(all, slog.Duration("took", time.Since(start)))
	all = append(all, attrs...)
	if err != nil {
		level = slog.LevelWarn
		all = append(all, slog.String("err", c.cleanErr(err).Error()))
		if pe, ok := errors.AsType[*watan.ProviderError](err); ok {
			all = append(all, slog.String("failure", string(pe.Kind)))
		}
	}
	c.log.LogAttrs(ctx, level, "barakat call", all...)
}
