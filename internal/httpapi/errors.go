package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"watan"
)

// statusByCode is the one place where error codes meet HTTP statuses. Every code in
// watan.ErrorCodes has a row (a test checks it), and the OpenAPI document is built
// from it.
//
// The only response status not derived from this table is 405, sent with code
// bad_request for a known path asked with the wrong method.
var statusByCode = map[string]int{
	watan.ECodeBadRequest:        http.StatusBadRequest,
	watan.ECodeValidation:        http.StatusUnprocessableEntity,
	watan.ECodeUnauthorized:      http.StatusUnauthorized,
	watan.ECodeNotFound:          http.StatusNotFound,
	watan.ECodeConflict:          http.StatusConflict,
	watan.ECodeInvalidTransition: http.StatusConflict,
	// 422 rather than 409: like an unknown package, it is a reason this particular
	// order cannot be accepted, and clients branch on the code anyway.
	watan.ECodeInsufficientBalance: http.StatusUnprocessableEntity,
	watan.ECodeUnknownPackage:      http.StatusUnprocessableEntity,
	watan.ECodePackageInactive:     http.StatusUnprocessableEntity,
	watan.ECodeUnknownAccount:      http.StatusUnprocessableEntity,
	watan.ECodeNoExchangeRate:      http.StatusUnprocessableEntity,
	watan.ECodeTooLarge:            http.StatusRequestEntityTooLarge,
	watan.ECodeRateLimited:         http.StatusTooManyRequests,
	watan.ECodeUnavailable:         http.StatusServiceUnavailable,
	watan.ECodeInternal:            http.StatusInternalServerError,
}

// statusOf returns the HTTP status for an error code; an unknown code is a bug in
// whoever made it, so it is reported like any other internal failure.
func statusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code" ref:"ErrorCode"`
	Message string `json:"message"`
}

// fail reports err to the client. A *watan.Error goes out with its code and message;
// anything else is logged with its detail and goes out as a bare "internal".
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := watan.ErrorCode(err), watan.ErrorMessage(err)
	if _, known := statusByCode[code]; !known {
		h.log.ErrorContext(r.Context(), "error with unknown code", "method", r.Method, "path", r.URL.Path, "err", err)
		code, msg = watan.ECodeInternal, "internal error"
	}
	if code == watan.ECodeInternal {
		switch {
		case r.Context().Err() != nil:
			// The client gave up; what we answer is not read, and this is no bug.
			h.log.DebugContext(r.Context(), "request canceled", "method", r.Method, "path", r.URL.Path, "err", err)
			code, msg = watan.ECodeUnavailable, "request canceled"
		case errors.Is(err, context.DeadlineExceeded):
			h.log.WarnContext(r.Context(), "request timed out", "method", r.Method, "path", r.URL.Path, "err", err)
			code, msg = watan.ECodeUnavailable, "timed out; retry"
			w.Header().Set("Retry-After", "5")
		case h.unavailable != nil && h.unavailable(err):
			// A database outage passes; the client should retry, not report a bug.
			h.log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
			code, msg = watan.ECodeUnavailable, "the service cannot reach its database right now; retry shortly"
			w.Header().Set("Retry-After", "5")
		default:
			h.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if code == watan.ECodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="watan"`)
	}
	writeError(w, statusOf(code), code, msg)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func badRequest(format string, args ...any) error {
	return watan.Errorf(watan.ECodeBadRequest, format, args...)
}

func invalid(format string, args ...any) error {
	return watan.Errorf(watan.ECodeValidation, format, args...)
}

func notFound(format string, args ...any) error {
	return watan.Errorf(watan.ECodeNotFound, format, args...)
}

func tooLarge(limit int64) error {
	return watan.Errorf(watan.ECodeTooLarge, "request body is larger than %s", byteSize(limit))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
