package watanapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"watan"
	"watan/internal/upstream"
)

// apiError is watan's error answer: {"error":{"code":…,"message":…}}.
type apiError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// orderAnswer is the part of watan's order that a downstream watan reads.
type orderAnswer struct {
	ID              int64               `json:"id"`
	Status          watan.Status        `json:"status"`
	ProviderState   watan.ProviderState `json:"provider_state"`
	PIN             string              `json:"pin"`
	ProviderMessage string              `json:"provider_message"`
	Price           string              `json:"price"`
}

// decodeError reads an error answer; ok is false when the body is not one.
func decodeError(body []byte) (code, message string, ok bool) {
	var e apiError
	if json.Unmarshal(body, &e) != nil || e.Error == nil || e.Error.Code == "" {
		return "", "", false
	}
	return e.Error.Code, upstream.Truncate(e.Error.Message, 300), true
}

// failure classifies an answer that is neither success nor an error the
// operation knows: 401 is the misconfiguration signal (and so are answers that
// are not watan's: a wrong base URL), 429 and 5xx are transient.
func failure(op string, status int, body []byte) *watan.ProviderError {
	code, msg, isAPI := decodeError(body)
	switch {
	case status == http.StatusUnauthorized:
		return upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrUnauthorized, "HTTP 401 %s", msg))
	case status == http.StatusTooManyRequests || status >= 500:
		return upstream.Fail(op, watan.FailTransport, upstream.Detailf(ErrUnavailable, "HTTP %d %s %s", status, code, msg))
	case !isAPI:
		return upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrNotAPI, "HTTP %d %q", status, upstream.Truncate(string(bytes.TrimSpace(body)), 80)))
	}
	return upstream.Fail(op, watan.FailProtocol, upstream.Detailf(ErrRefused, "HTTP %d %s: %s", status, code, msg))
}

// parseOrder reads an order answer.
func parseOrder(op string, body []byte) (orderAnswer, error) {
	var o orderAnswer
	if !json.Valid(body) {
		// A web page or anything else where watan's JSON was due: a wrong base URL
		// or a proxy in the way, as with the other kinds' HTML answers.
		return orderAnswer{}, upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrNotAPI, "%q", upstream.Truncate(string(bytes.TrimSpace(body)), 80)))
	}
	if err := json.Unmarshal(body, &o); err != nil || o.ID <= 0 || !o.Status.Valid() {
		return orderAnswer{}, upstream.Fail(op, watan.FailProtocol, upstream.Detailf(ErrNotAPI, "order answer without an id or a known status"))
	}
	return o, nil
}

// describe is the timeline's words for an upstream order.
func describe(o orderAnswer) string {
	s := fmt.Sprintf("upstream order %d is %s (%s)", o.ID, o.Status, o.ProviderState)
	if m := strings.TrimSpace(o.ProviderMessage); m != "" {
		s += ": " + upstream.Truncate(m, 200)
	}
	return s
}

// parsePlace classifies the answer to POST /orders.
func parsePlace(status int, body []byte) (watan.PlaceResult, error) {
	switch status {
	case http.StatusCreated, http.StatusOK:
		o, err := parseOrder(opPlace, body)
		if err != nil {
			return watan.PlaceResult{Outcome: watan.PlaceUnknown}, err
		}
		res := watan.PlaceResult{ProviderOrderID: idString(o.ID), Cost: o.Price, Message: describe(o)}
		switch o.Status {
		case watan.StatusApproved:
			res.Outcome, res.PIN = watan.PlaceDelivered, o.PIN
		case watan.StatusRejected:
			// A repeat of an order the upstream already rejected: it exists, so it
			// is no refusal; the check that follows sees it failed.
			res.Outcome = watan.PlaceUnknown
		default:
			res.Outcome = watan.PlaceAccepted
		}
		return res, nil
	case http.StatusUnprocessableEntity, http.StatusNotFound, http.StatusBadRequest, http.StatusConflict:
		code, msg, ok := decodeError(body)
		if !ok {
			break
		}
		if code == watan.ECodeNotFound {
			// The route itself is missing: the base URL points at something else.
			return watan.PlaceResult{Outcome: watan.PlaceUnknown}, upstream.Fail(opPlace, watan.FailMisconfigured,
				upstream.Detailf(ErrNotAPI, "HTTP %d %s: %s", status, code, msg))
		}
		reason, known := rejectReasons[code]
		if !known {
			// conflict, bad_request and codes this version does not know: the
			// order may or may not exist; the check by reference tells.
			return watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: code + ": " + msg}, nil
		}
		return watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: reason, Message: code + ": " + msg}, nil
	}
	return watan.PlaceResult{Outcome: watan.PlaceUnknown}, failure(opPlace, status, body)
}

// rejectReasons maps the upstream's refusals of a creation (a refused request
// writes nothing there) to ours, so that fallback and the breaker's
// misconfiguration rule work as for any provider.
var rejectReasons = map[string]watan.RejectReason{
	watan.ECodeInsufficientBalance: watan.ReasonOutOfBalance,
	watan.ECodeUnknownPackage:      watan.ReasonProductUnavailable,
	watan.ECodePackageInactive:     watan.ReasonProductUnavailable,
	watan.ECodeUnknownAccount:      watan.ReasonMisconfigured,
	watan.ECodeValidation:          watan.ReasonBadInput,
}

// parseCheck classifies the answer to GET /orders/{id} or /client-orders/{ref}.
func parseCheck(status int, body []byte) (watan.CheckResult, error) {
	switch status {
	case http.StatusOK:
		o, err := parseOrder(opCheck, body)
		if err != nil {
			return watan.CheckResult{}, err
		}
		res := watan.CheckResult{ProviderOrderID: idString(o.ID), Message: describe(o)}
		switch o.Status {
		case watan.StatusApproved:
			res.Outcome, res.PIN = watan.CheckDelivered, o.PIN
		case watan.StatusRejected:
			res.Outcome = watan.CheckFailed
		default:
			res.Outcome = watan.CheckPending
		}
		return res, nil
	case http.StatusNotFound:
		if code, msg, ok := decodeError(body); ok && code == watan.ECodeNotFound {
			return watan.CheckResult{Outcome: watan.CheckNotFound, Message: msg}, nil
		}
	}
	return watan.CheckResult{}, failure(opCheck, status, body)
}

// parseBalance reads GET /accounts/{code}.
func parseBalance(status int, body []byte) (watan.Balance, error) {
	if status != http.StatusOK {
		if code, msg, ok := decodeError(body); ok && code == watan.ECodeNotFound {
			return watan.Balance{}, upstream.Fail(opBalance, watan.FailMisconfigured, upstream.Detailf(ErrRefused, "our account at the upstream: %s", msg))
		}
		return watan.Balance{}, failure(opBalance, status, body)
	}
	var a struct {
		Balance  *string `json:"balance"`
		Currency string  `json:"currency"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Balance == nil {
		return watan.Balance{}, upstream.Fail(opBalance, watan.FailProtocol, upstream.Detailf(ErrNotAPI, "account answer without a balance"))
	}
	return watan.Balance{Amount: *a.Balance, Currency: a.Currency}, nil
}

// parseCatalog reads one page of GET /packages.
func parseCatalog(status int, body []byte) ([]watan.Product, string, error) {
	if status != http.StatusOK {
		return nil, "", failure(opCatalog, status, body)
	}
	var page struct {
		Packages *[]struct {
			Code     string `json:"code"`
			Name     string `json:"name"`
			Price    string `json:"price"`
			Currency string `json:"currency"`
			Active   bool   `json:"active"`
		} `json:"packages"`
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &page); err != nil || page.Packages == nil {
		return nil, "", upstream.Fail(opCatalog, watan.FailProtocol, upstream.Detailf(ErrNotAPI, "package list without packages"))
	}
	out := make([]watan.Product, 0, len(*page.Packages))
	for _, p := range *page.Packages {
		out = append(out, watan.Product{
			ID: p.Code, Name: p.Name, Price: p.Price, Description: "price in " + p.Currency, Available: p.Active,
			Inputs: []string{"player_id"}, QtyKind: "range", QtyMin: 1, QtyMax: maxQuantity,
		})
	}
	return out, page.NextCursor, nil
}
