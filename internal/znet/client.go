// Package znet is a client for znet, a Turkish e-pin dealer panel: plain HTTP GETs to
// {base}/servis/<name>.php with the dealer's code and password in the query, answered
// with "|"-separated text (JSON for the catalog). Client implements watan.Provider and
// classifies every answer as providers.md §1 prescribes, strictly: an answer that
// might mean "the order exists" is never reported as a refusal, and nothing but the
// provider's "completed" state is reported as delivered.
//
// The password travels in the URL, so nothing this package returns or logs contains
// a request's query: transport errors carry the URL without it, and provider text
// that echoes a credential is scrubbed.
package znet

import (
	"context"
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

// Mapping parameters a znet product needs, in watan.Mapping.Params (and so in
// watan.PlaceRequest.Params); Catalog fills them in each watan.Product.
const (
	ParamOyun  = "oyun"  // the product's oyun_bilgi_id
	ParamKupur = "kupur" // the product's denomination
)

// Defaults for Config, the timeouts znet was run with in production.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultRequestTimeout = 20 * time.Second
)

// Limits on answer sizes: a text answer is a line; a catalog may list thousands of
// products. Anything larger is not an answer from this protocol.
const (
	maxAnswer  = 64 << 10
	maxCatalog = 16 << 20
)

const userAgent = "watan"

// Config configures a Client.
type Config struct {
	// BaseURL is the dealer's panel, such as "http://bayi.example.com"; requests
	// go to BaseURL + "/servis/<name>.php". Required.
	BaseURL string
	// Kod is the dealer code, usually a phone number. Required.
	Kod watan.Secret
	// Sifre is the dealer password. Required.
	Sifre watan.Secret
	// HTTPClient sends the requests. Default: a client of this Client's own whose
	// dialer and TLS handshake give up after ConnectTimeout. Redirects are never
	// followed, with either client: the panel does not redirect its API, and a
	// redirect would carry the password to wherever it points.
	HTTPClient *http.Client
	// Egress, if set, limits the addresses the default client may dial (see package
	// egress). Default nil: any address. Ignored when HTTPClient is set.
	Egress *egress.Policy
	// ConnectTimeout bounds dialing and the TLS handshake of the default client.
	// Default 5 s. Ignored when HTTPClient is set.
	ConnectTimeout time.Duration
	// RequestTimeout bounds one request, from dialing to the answer's last byte.
	// Default 20 s.
	RequestTimeout time.Duration
	// Logger receives a line per request: operation, endpoint, reference, HTTP
	// status, duration and outcome, never a URL's query, a credential or a PIN.
	// Default: discard.
	Logger *slog.Logger
}

// Client talks to one znet dealer account. It is safe for concurrent use.
type Client struct {
	base       *url.URL // without query
	kod, sifre watan.Secret
	http       *http.Client
	timeout    time.Duration
	log        *slog.Logger
	redactor   *redact.Redactor
}

var _ watan.Provider = (*Client)(nil)

// New returns a client for the account cfg describes.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Kod.Reveal()) == "" || cfg.Sifre.Reveal() == "" {
		return nil, errors.New("znet: kod and sifre are required")
	}
	c := &Client{
		base:    base,
		kod:     watan.Secret(strings.TrimSpace(cfg.Kod.Reveal())),
		sifre:   cfg.Sifre,
		timeout: cfg.RequestTimeout,
		log:     cfg.Logger,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("provider", "znet")
	c.http = upstream.NewHTTPClient(cfg.HTTPClient, cfg.ConnectTimeout, cfg.Egress)
	c.redactor = redact.New(c.kod.Reveal(), c.sifre.Reveal())
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("znet: base URL %q must be an http or https URL such as http://bayi.example.com", upstream.RedactURL(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("znet: base URL %q must not have a query or fragment", upstream.RedactURL(raw))
	}
	u.User = nil
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// scrub removes credentials from provider text before it reaches a result or a log.
func (c *Client) scrub(s string) string { return c.redactor.Text(s) }

// clean returns err, or a plain error with the same words minus any credential if
// its text contains one.
func (c *Client) clean(err error) error { return c.redactor.Error(err) }

// cleanErr scrubs credentials from the provider's words an error quotes.
func (c *Client) cleanErr(err error) error { return upstream.ScrubDetail(err, c.scrub) }

// String and GoString describe the client without its credentials: fmt cannot call
// watan.Secret's methods on unexported fields, so printing the struct would show
// them.
func (c *Client) String() string { return "znet.Client(" + c.base.String() + ")" }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Capabilities of the znet protocol: no batch status, no PIN at placement, status
// by our reference.
func (c *Client) Capabilities() watan.Capabilities {
	return watan.Capabilities{BatchCheck: false, MaxBatch: 1, PINAtPlacement: false, CheckByReferans: true}
}

// reply is a completed HTTP exchange.
type reply struct {
	status   int
	location string // of a redirect, without its query
	body     []byte
}

// get calls {base}/servis/{endpoint} with params plus the credentials and returns
// the answer, or a *watan.ProviderError whose text names the endpoint but never
// the query.
func (c *Client) get(ctx context.Context, op, endpoint string, params url.Values, limit int64) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	u := c.base.JoinPath("servis", endpoint)
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("kod", c.kod.Reveal())
	q.Set("sifre", c.sifre.Reveal())
	u.RawQuery = q.Encode()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return reply{}, upstream.Fail(op, watan.FailInvalid, c.clean(err))
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error prints the whole URL, password included: rebuild it around
		// the endpoint alone.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = &url.Error{Op: ue.Op, URL: c.endpointURL(endpoint), Err: c.clean(ue.Err)}
		}
		return reply{}, upstream.Fail(op, watan.FailTransport, c.clean(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return reply{}, upstream.Fail(op, watan.FailTransport,
			fmt.Errorf("reading the answer of %s: %w", c.endpointURL(endpoint), c.clean(err)))
	}
	if int64(len(body)) > limit {
		return reply{}, upstream.Fail(op, watan.FailProtocol, upstream.Detailf(ErrUnexpected, "answer of %s is larger than %d bytes", endpoint, limit))
	}
	r := reply{status: resp.StatusCode, body: body}
	if loc, err := resp.Location(); err == nil {
		loc.RawQuery, loc.User = "", nil
		r.location = loc.String()
	}
	return r, statusError(op, r)
}

// endpointURL is the URL of endpoint as errors may show it: without the query.
func (c *Client) endpointURL(endpoint string) string {
	return c.base.JoinPath("servis", endpoint).String()
}

// statusError classifies a non-success HTTP status: the panel answers 200 to every
// request it understands, including refusals, so any other status comes from
// something in front of it.
func statusError(op string, r reply) error {
	code := r.status
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrHTTPStatus, "%d redirect to %s: wrong base URL", code, r.location))
	case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return upstream.Fail(op, watan.FailTransport,
			upstream.Detailf(ErrHTTPStatus, "%d %s: the provider's server failed; try again later", code, http.StatusText(code)))
	}
	return upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrHTTPStatus, "%d %s: wrong base URL or blocked IP", code, http.StatusText(code)))
}

// Balance returns the dealer's balance.
func (c *Client) Balance(ctx context.Context) (watan.Balance, error) {
	start := time.Now()
	r, err := c.get(ctx, opBalance, "bakiye_kontrol.php", nil, maxAnswer)
	var b watan.Balance
	if err == nil {
		b, err = parseBalance(r.body)
	}
	err = c.cleanErr(err)
	c.logCall(ctx, opBalance, "", r.status, start, slog.String("balance", b.Amount), err)
	return b, err
}

// Catalog lists the dealer's products. Each product's Params hold the "oyun" and
// "kupur" a mapping needs to order it.
func (c *Client) Catalog(ctx context.Context) ([]watan.Product, error) {
	start := time.Now()
	r, err := c.get(ctx, opCatalog, "pin_listesi.php", nil, maxCatalog)
	var ps []watan.Product
	if err == nil {
		ps, err = parseCatalog(r.body)
	}
	for i := range ps {
		ps[i].Name, ps[i].Description = c.scrub(ps[i].Name), c.scrub(ps[i].Description)
	}
	err = c.cleanErr(err)
	c.logCall(ctx, opCatalog, "", r.status, start, slog.Int("products", len(ps)), err)
	return ps, err
}

// Place sends pin_ekle.php. req.Params must hold "oyun" and "kupur"; req.Referans
// must be digits. The customer's inputs are mapped as production did: the player id
// goes to oyuncu_bilgi; Extra goes to musteri_tel when it looks like a phone number
// and no Phone is given, and is otherwise appended to oyuncu_bilgi after a space.
//
// A reply that says the referans was sent before is PlaceUnknown with a nil error:
// the order may exist, so the caller must check the same referans.
func (c *Client) Place(ctx context.Context, req watan.PlaceRequest) (watan.PlaceResult, error) {
	params, res, err := placeQuery(req)
	if err != nil || res.Outcome != "" {
		c.logCall(ctx, opPlace, req.Referans, 0, time.Now(), slog.String("outcome", string(res.Outcome)), err)
		return res, err
	}
	start := time.Now()
	r, err := c.get(ctx, opPlace, "pin_ekle.php", params, maxAnswer)
	res = watan.PlaceResult{Outcome: watan.PlaceUnknown}
	if err == nil {
		res, err = parsePlace(r.body)
	}
	res.Message, err = c.scrub(res.Message), c.cleanErr(err)
	c.logCall(ctx, opPlace, req.Referans, r.status, start, slog.String("outcome", string(res.Outcome)), err,
		slog.String("reason", string(res.Reason)))
	return res, err
}

// placeQuery builds pin_ekle.php's parameters (without the credentials). When the
// request cannot be sent it returns a result or an error instead: a mapping without
// oyun or kupur is refused here exactly as znet would refuse it ("3|Kupur Bilgisi
// Bulunamadı"), without a round trip.
func placeQuery(req watan.PlaceRequest) (url.Values, watan.PlaceResult, error) {
	if !isDigits(req.Referans) {
		return nil, watan.PlaceResult{Outcome: watan.PlaceUnknown},
			upstream.Fail(opPlace, watan.FailInvalid, fmt.Errorf("referans %q is not numeric: znet accepts digits only", req.Referans))
	}
	oyun, kupur := strings.TrimSpace(req.Params[ParamOyun]), strings.TrimSpace(req.Params[ParamKupur])
	if oyun == "" || kupur == "" {
		return nil, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonProductUnavailable,
			Message: "the product mapping lacks znet's oyun and kupur parameters; nothing was sent"}, nil
	}
	if req.Quantity > 1 {
		return nil, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonBadInput,
			Message: "znet places one unit per order; quantity " + strconv.Itoa(req.Quantity) + " was not sent"}, nil
	}
	player, phone := customerFields(req.PlayerID, req.Extra, req.Phone)
	return url.Values{
		"oyun":         {oyun},
		"kupur":        {kupur},
		"referans":     {req.Referans},
		"oyuncu_bilgi": {player},
		// Always present, empty when unknown: PHP panels that read a missing
		// parameter may print a notice (HTML) before the answer.
		"musteri_tel": {phone},
	}, watan.PlaceResult{}, nil
}

// customerFields maps the customer's inputs to oyuncu_bilgi and musteri_tel.
func customerFields(player, extra, phone string) (oyuncuBilgi, musteriTel string) {
	player, extra, phone = strings.TrimSpace(player), strings.TrimSpace(extra), strings.TrimSpace(phone)
	switch {
	case extra == "":
		return player, phone
	case phone == "" && looksLikePhone(extra):
		return player, extra
	case player == "":
		return extra, phone
	}
	return player + " " + extra, phone
}

// looksLikePhone reports whether s is 9–15 digits with an optional leading "+".
func looksLikePhone(s string) bool {
	s = strings.TrimPrefix(s, "+")
	return len(s) >= 9 && len(s) <= 15 && isDigits(s)
}

// Check asks pin_kontrol.php about each reference in turn, since znet has no batch
// status. References are looked up by Referans; ProviderOrderID is not used. The
// first failed call fails the whole Check.
func (c *Client) Check(ctx context.Context, refs []watan.CheckRef) ([]watan.CheckResult, error) {
	results := make([]watan.CheckResult, 0, len(refs))
	for _, ref := range refs {
		r, err := c.checkOne(ctx, ref)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

func (c *Client) checkOne(ctx context.Context, ref watan.CheckRef) (watan.CheckResult, error) {
	start := time.Now()
	if !isDigits(ref.Referans) {
		err := upstream.Fail(opCheck, watan.FailInvalid, fmt.Errorf("referans %q is not numeric: znet accepts digits only", ref.Referans))
		c.logCall(ctx, opCheck, ref.Referans, 0, start, slog.String("outcome", ""), err)
		return watan.CheckResult{}, err
	}
	r, err := c.get(ctx, opCheck, "pin_kontrol.php", url.Values{"tahsilat_api_islem_id": {ref.Referans}}, maxAnswer)
	var res watan.CheckResult
	if err == nil {
		res, err = parseCheck(r.body)
	}
	res.Ref, res.ProviderOrderID = ref, ref.ProviderOrderID
	res.Message, err = c.scrub(res.Message), c.cleanErr(err)
	c.logCall(ctx, opCheck, ref.Referans, r.status, start, slog.String("outcome", string(res.Outcome)), err)
	if err != nil {
		return watan.CheckResult{}, err
	}
	return res, nil
}

// logCall writes the one line a call produces: debug when it succeeded, a warning
// when it failed, because a failure is what an operator looks for.
func (c *Client) logCall(ctx context.Context, op, ref string, status int, start time.Time, detail slog.Attr, err error, more ...slog.Attr) {
	level := slog.LevelDebug
	attrs := []slog.Attr{slog.String("op", op)}
	if ref != "" {
		attrs = append(attrs, slog.String("referans", ref))
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("http_status", status))
	}
	attrs = append(attrs, slog.Duration("took", time.Since(start)), detail)
	for _, a := range more {
		if a.Value.String() != "" {
			attrs = append(attrs, a)
		}
	}
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("err", err.Error()))
		if pe, ok := errors.AsType[*watan.ProviderError](err); ok {
			attrs = append(attrs, slog.String("failure", string(pe.Kind)))
		}
	}
	c.log.LogAttrs(ctx, level, "znet call", attrs...)
}
