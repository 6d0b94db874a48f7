package barakat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"watan"
	"watan/internal/upstream"
)

// Explanations of failed calls. The *watan.ProviderError a call returns wraps one
// of them, so errors.Is tells callers (and "watan provider check") what went wrong.
var (
	// ErrUnauthorized is HTTP 401/403 or an answer saying the token is invalid.
	ErrUnauthorized = errors.New("the token is wrong")
	// ErrHTMLAnswer means the request reached a web page, not the API.
	ErrHTMLAnswer = errors.New("HTML page: wrong base URL or blocked IP")
	// ErrEmptyAnswer is an empty body where JSON was due.
	ErrEmptyAnswer = errors.New("empty answer")
	// ErrHTTPStatus is an HTTP status the protocol does not use.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrRefused is an error answer ("status":"ERROR") to a call that is not a
	// placement.
	ErrRefused = errors.New("refused by the provider")
	// ErrUnexpected is an answer outside the protocol.
	ErrUnexpected = errors.New("unexpected answer")
)

// Operation names, as reported in watan.ProviderError.Op.
const (
	opPlace   = "place"
	opCheck   = "check"
	opBalance = "balance"
	opCatalog = "catalog"
)

// currency of barakat amounts unless the profile names another.
const currency = "TRY"

func unexpected(op string, format string, args ...any) *watan.ProviderError {
	return upstream.Fail(op, watan.FailProtocol, upstream.Detailf(ErrUnexpected, format, args...))
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// envelope is the shape of every JSON answer: {"status":…, "message":…, "data":…}.
// A bare list (the catalog) is returned as Data.
type envelope struct {
	Status  flexString      `json:"status"`
	Message json.RawMessage `json:"message"`
	Error   json.RawMessage `json:"error"`
	Code    flexString      `json:"code"`
	Data    json.RawMessage `json:"data"`

	failed bool   // an error answer: see decode
	text   string // message and error, for classification and the timeline
	raw    []byte // the whole JSON value, for answers without an envelope
}

// decode classifies the HTTP status and reads the JSON envelope. It returns an
// error for everything that is not a readable answer, and for the provider's
// "unauthorized" in any form; an error answer is returned with failed set, for the
// operation to classify.
func decode(op string, status int, body []byte) (envelope, error) {
	var env envelope
	text := bytes.TrimSpace(bytes.TrimPrefix(body, bom))
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return env, upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrUnauthorized, "HTTP %d%s", status, quoteDetail(text)))
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		return env, upstream.Fail(op, watan.FailTransport,
			upstream.Detailf(ErrHTTPStatus, "%d %s: the provider's server failed; try again later", status, http.StatusText(status)))
	case len(text) > 0 && text[0] == '<':
		return env, upstream.Fail(op, watan.FailMisconfigured, ErrHTMLAnswer)
	case len(text) == 0 && status >= 200 && status < 300:
		return env, upstream.Fail(op, watan.FailProtocol, ErrEmptyAnswer)
	case len(text) == 0 || (status == http.StatusNotFound && !bytes.HasPrefix(text, []byte("{"))):
		return env, upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrHTTPStatus, "%d %s: wrong base URL", status, http.StatusText(status)))
	}
	ok2xx := status >= 200 && status < 300
	if text[0] == '[' && ok2xx {
		env.Data, env.raw = text, text
		return env, nil
	}
	if text[0] != '{' || json.Unmarshal(text, &env) != nil {
		// Not quoted: it is not the protocol, and may come from whatever the base URL
		// points at.
		return env, unexpected(op, "HTTP %d, an answer of %d bytes that is not a JSON object", status, len(text))
	}
	env.raw = text
	env.text = joinText(rawText(env.Message), rawText(env.Error))
	st := fold(string(env.Status))
	noData := isNull(env.Data)
	env.failed = !ok2xx ||
		(noData && (st == "error" || st == "fail" || st == "failed" || st == "false")) ||
		(noData && st == "" && env.text != "")
	if env.failed && status == http.StatusNotFound && (env.text == "" || fold(env.text) == "not found") {
		// Laravel's answer for a route it does not have: the base URL is wrong.
		return env, upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrHTTPStatus, "404 Not Found: wrong base URL"))
	}
	if env.failed && unauthorized(fold(env.text)) {
		return env, upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrUnauthorized, "%q", upstream.Truncate(env.text, 200)))
	}
	return env, nil
}

// unauthorized reports whether folded text is the provider's "bad token" answer.
func unauthorized(folded string) bool {
	return containsAny(folded, "unauthori", "unauthent") ||
		(strings.Contains(folded, "token") &&
			containsAny(folded, "invalid", "wrong", "required", "missing", "expired", "incorrect", "not valid"))
}

func quoteDetail(text []byte) string {
	var env envelope
	if json.Unmarshal(text, &env) == nil {
		if t := joinText(rawText(env.Message), rawText(env.Error)); t != "" {
			return fmt.Sprintf(" %q", upstream.Truncate(t, 200))
		}
	}
	return ""
}

// orderItem is one order as placement and status answers describe it.
type orderItem struct {
	OrderID   flexString      `json:"order_id"`
	UUID      flexString      `json:"order_uuid"`
	Status    flexString      `json:"status"`
	Price     flexString      `json:"price"`
	PIN       codes           `json:"pin"`
	Code      codes           `json:"code"`
	Voucher   codes           `json:"voucher"`
	Serial    codes           `json:"serial"`
	Note      flexString      `json:"note"`
	ReplayAPI json.RawMessage `json:"replay_api"`
}

// pin returns the first real code among the fields the PIN may arrive in.
func (it orderItem) pin() string {
	for _, p := range []codes{it.PIN, it.Code, it.Voucher, it.Serial} {
		if !isPlaceholderPIN(string(p)) {
			return strings.TrimSpace(string(p))
		}
	}
	return ""
}

// note returns the provider's words: note, or else the first text in replay_api
// (a list of strings, or of objects such as {"replay":["…"]}).
func (it orderItem) note() string {
	if it.Note != "" {
		return string(it.Note)
	}
	return firstString(it.ReplayAPI, 0)
}

func firstString(raw json.RawMessage, depth int) string {
	if depth > 4 || isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		for _, v := range list {
			if s := firstString(v, depth+1); s != "" {
				return s
			}
		}
		return ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"replay", "message", "note", "text"} {
			if s := firstString(obj[k], depth+1); s != "" {
				return s
			}
		}
	}
	return ""
}

// state is an order status word classified by providers.md §2.5.
type state int

const (
	statePending state = iota
	stateDelivered
	stateFailed
	stateUnrecognized // pending, and worth a warning
)

// classify maps a status word by exact match (after case and separator folding):
// "accept" is delivered but "accepted" is pending, so substrings will not do.
func classify(word string) state {
	w := strings.NewReplacer(" ", "", "_", "", "-", "").Replace(fold(word))
	switch w {
	case "success", "ok", "done", "complete", "completed", "accept":
		return stateDelivered
	case "reject", "rejected", "failed", "fail", "error", "cancelled", "canceled":
		return stateFailed
	case "wait", "pending", "processing", "inprogress", "queued", "queue", "accepted":
		return statePending
	}
	return stateUnrecognized
}

// placeAnswer is a classified placement answer; rawStatus is set when the status
// word was not in the vocabulary, for the caller to warn about.
type placeAnswer struct {
	watan.PlaceResult
	rawStatus string
}

// parsePlace classifies a newOrder answer.
func parsePlace(status int, body []byte) (placeAnswer, error) {
	unknown := placeAnswer{PlaceResult: watan.PlaceResult{Outcome: watan.PlaceUnknown}}
	env, err := decode(opPlace, status, body)
	if err != nil {
		return unknown, err
	}
	if env.failed {
		return placeAnswer{PlaceResult: refusal(env.text)}, nil
	}
	var it orderItem
	if !isNull(env.Data) {
		if err := json.Unmarshal(env.Data, &it); err != nil {
			return unknown, unexpected(opPlace, "data: %v", err)
		}
	}
	word := string(it.Status)
	if st := classify(string(env.Status)); word == "" && (st == statePending || st == stateFailed) {
		// Some stores put the order's state at the top ("status":"wait"). A
		// delivered word there is not taken: "OK" or "success" at the top may be
		// the envelope's, and delivery needs the order's own word.
		word = string(env.Status)
	}
	if word == "" && it.OrderID == "" {
		return unknown, unexpected(opPlace, "no order in the answer (%d bytes)", len(env.raw))
	}
	res := placeAnswer{PlaceResult: watan.PlaceResult{
		ProviderOrderID: string(it.OrderID), Cost: string(it.Price), Message: it.note(),
	}}
	switch classify(word) {
	case stateDelivered:
		// The status is the evidence; a top-up completes without a code.
		res.Outcome, res.PIN = watan.PlaceDelivered, it.pin()
	case stateFailed:
		res.Outcome, res.Reason = watan.PlaceRejected, rejectReason(fold(joinText(res.Message, env.text)))
	case statePending:
		res.Outcome = watan.PlaceAccepted
	default:
		res.Outcome, res.rawStatus = watan.PlaceAccepted, word
	}
	return res, nil
}

// refusal classifies an error answer to newOrder. An answer about the order_uuid
// having been used is PlaceUnknown: it is our earlier attempt, which may exist.
func refusal(text string) watan.PlaceResult {
	f := fold(text)
	if containsAny(f, "already", "duplicate", "been taken") {
		return watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: text}
	}
	return watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: rejectReason(f), Message: text}
}

// rejectReason classifies the text of a refusal. Stock comes before balance because
// "not enough stock" is about the product.
func rejectReason(folded string) watan.RejectReason {
	switch {
	case containsAny(folded, "stock", "stok"):
		return watan.ReasonProductUnavailable
	case containsAny(folded, "balance", "bakiye", "not enough", "insufficient", "funds", "yetersiz"):
		return watan.ReasonOutOfBalance
	case containsAny(folded, "product", "not available", "unavailable", "disabled", "inactive", "urun"):
		return watan.ReasonProductUnavailable
	case containsAny(folded, "player", "uid", "required", "invalid", "quantity", "qty", "param", "field", "must be"):
		return watan.ReasonBadInput
	}
	return watan.ReasonOther
}

// checkItem is one classified order of a status answer.
type checkItem struct {
	orderID, uuid string
	outcome       watan.CheckOutcome
	pin, message  string
	rawStatus     string // set when the status word was not in the vocabulary
}

// parseCheck reads a check answer into its items, in the provider's order.
func parseCheck(status int, body []byte) ([]checkItem, error) {
	env, err := decode(opCheck, status, body)
	if err != nil {
		return nil, err
	}
	if env.failed {
		return nil, upstream.Fail(opCheck, watan.FailProtocol, upstream.Detailf(ErrRefused, "%q", upstream.Truncate(env.text, 200)))
	}
	if st := classify(string(env.Status)); env.Status != "" && st != stateDelivered {
		return nil, unexpected(opCheck, "status %q", upstream.Truncate(string(env.Status), 50))
	}
	raws, err := list(env.Data)
	if err != nil {
		return nil, unexpected(opCheck, "data: %v", err)
	}
	items := make([]checkItem, 0, len(raws))
	for _, raw := range raws {
		var it orderItem
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, unexpected(opCheck, "order: %v", err)
		}
		ci := checkItem{orderID: string(it.OrderID), uuid: string(it.UUID), message: it.note()}
		switch classify(string(it.Status)) {
		case stateDelivered:
			ci.outcome, ci.pin = watan.CheckDelivered, it.pin()
		case stateFailed:
			ci.outcome = watan.CheckFailed
		case statePending:
			ci.outcome = watan.CheckPending
		default:
			ci.outcome, ci.rawStatus = watan.CheckPending, string(it.Status)
		}
		items = append(items, ci)
	}
	return items, nil
}

// list reads a JSON array, or an object whose values are the elements (PHP
// serializes a list with gaps in its keys that way). null is not an empty list:
// an answer without data must not make every order "not found".
func list(raw json.RawMessage) ([]json.RawMessage, error) {
	if isNull(raw) {
		return nil, errors.New("missing")
	}
	var l []json.RawMessage
	if err := json.Unmarshal(raw, &l); err == nil {
		return l, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a list")
	}
	l = make([]json.RawMessage, 0, len(m))
	for _, v := range m {
		l = append(l, v)
	}
	return l, nil
}

// parseProfile reads a profile answer: {"balance":"43.55","email":"…"}, bare or
// inside "data".
func parseProfile(status int, body []byte) (watan.Balance, error) {
	env, err := decode(opBalance, status, body)
	if err != nil {
		return watan.Balance{}, err
	}
	if env.failed {
		return watan.Balance{}, upstream.Fail(opBalance, watan.FailProtocol, upstream.Detailf(ErrRefused, "%q", upstream.Truncate(env.text, 200)))
	}
	var p struct {
		Balance  flexString `json:"balance"`
		Currency flexString `json:"currency"`
	}
	src := env.raw
	if !isNull(env.Data) {
		src = env.Data
	}
	if err := json.Unmarshal(src, &p); err != nil || !isNumber(string(p.Balance)) {
		return watan.Balance{}, unexpected(opBalance, "no balance in the answer (%d bytes)", len(env.raw))
	}
	b := watan.Balance{Amount: string(p.Balance), Currency: string(p.Currency)}
	if b.Currency == "" {
		b.Currency = currency
	}
	return b, nil
}

// Mapping parameters of a barakat product, in watan.Mapping.Params: which query
// parameter carries the player id and which the extra input. Catalog fills them
// from the product's declared params (the first and the second); every other key
// of a mapping's Params is sent as a fixed query parameter.
const (
	ParamPlayer = "player_param"
	ParamExtra  = "extra_param"
)

type productItem struct {
	ID          flexString      `json:"id"`
	Name        flexString      `json:"name"`
	Price       flexString      `json:"price"`
	Category    flexString      `json:"category_name"`
	Available   *flexBool       `json:"available"`
	Params      json.RawMessage `json:"params"`
	ProductType flexString      `json:"product_type"`
	QtyValues   json.RawMessage `json:"qty_values"`
}

// parseProducts reads a products answer: a bare list or one inside "data".
func parseProducts(status int, body []byte) ([]watan.Product, error) {
	env, err := decode(opCatalog, status, body)
	if err != nil {
		return nil, err
	}
	if env.failed {
		return nil, upstream.Fail(opCatalog, watan.FailProtocol, upstream.Detailf(ErrRefused, "%q", upstream.Truncate(env.text, 200)))
	}
	raws, err := list(env.Data)
	if err != nil {
		return nil, unexpected(opCatalog, "products: %v", err)
	}
	products := make([]watan.Product, 0, len(raws))
	for _, raw := range raws {
		var it productItem
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, unexpected(opCatalog, "product: %v", err)
		}
		p := watan.Product{
			ID: string(it.ID), Name: string(it.Name), Price: string(it.Price), Category: string(it.Category),
			Available: it.Available == nil || bool(*it.Available),
			Inputs:    stringList(it.Params),
		}
		p.Params = map[string]string{ParamPlayer: ""}
		if len(p.Inputs) > 0 {
			p.Params[ParamPlayer] = p.Inputs[0]
		}
		if len(p.Inputs) > 1 {
			p.Params[ParamExtra] = p.Inputs[1]
		}
		setQty(&p, it.QtyValues)
		products = append(products, p)
	}
	return products, nil
}

// setQty reads qty_values: null (fixed), {"min":…,"max":…} (a range) or a list (a
// set). Another shape leaves QtyKind empty rather than failing the whole catalog.
func setQty(p *watan.Product, raw json.RawMessage) {
	if isNull(raw) {
		p.QtyKind, p.QtyMin, p.QtyMax = "fixed", 1, 1
		return
	}
	var r struct {
		Min flexInt `json:"min"`
		Max flexInt `json:"max"`
	}
	if json.Unmarshal(raw, &r) == nil {
		p.QtyKind, p.QtyMin, p.QtyMax = "range", int(r.Min), int(r.Max)
		return
	}
	if vs := stringList(raw); vs != nil {
		p.QtyKind, p.QtyValues = "set", vs
	}
}

// stringList reads a list of strings or numbers, or a comma-separated string.
func stringList(raw json.RawMessage) []string {
	if isNull(raw) {
		return nil
	}
	var l []flexString
	if json.Unmarshal(raw, &l) == nil {
		out := make([]string, 0, len(l))
		for _, s := range l {
			if s != "" {
				out = append(out, string(s))
			}
		}
		return out
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		var out []string
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out
	}
	return nil
}
