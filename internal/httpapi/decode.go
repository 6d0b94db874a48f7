package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"watan"
)

const contentTypeJSON = "application/json; charset=utf-8"

// writeJSON sends v as the response. Encoding happens before the header is written,
// so that a value that cannot be encoded still yields a proper 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentTypeJSON)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// Responses carry PINs and balances: no cache may keep them.
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeJSON reads exactly one JSON value from the body into dst, rejecting unknown
// fields, wrong types, trailing data and non-JSON content types with bad_request, and
// an oversized body with payload_too_large. Messages name the offending field so that
// a client can fix its request without reading our code.
func decodeJSON(r *http.Request, dst any) error { return decodeBody(r, dst, false) }

// decodeOptionalJSON is decodeJSON for routes whose every field is optional (the
// bodyOptionalJSON routes): an empty body stands for the empty object, so that a
// client need not invent one, while anything sent is held to decodeJSON's rules.
func decodeOptionalJSON(r *http.Request, dst any) error { return decodeBody(r, dst, true) }

func decodeBody(r *http.Request, dst any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONType(ct) {
		return badRequest("Content-Type must be application/json, not %q", ct)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if optional && errors.Is(err, io.EOF) {
			return nil // nothing but white space: dst keeps its zero value
		}
		return decodeError(err)
	}
	// A second value, or garbage after the first, means the client sent something
	// other than what we are about to act on.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return badRequest("request body must hold a single JSON value")
		}
		if te := decodeError(err); watan.ErrorCode(te) == watan.ECodeTooLarge {
			return te
		}
		return badRequest("request body must hold a single JSON value; unexpected data after it")
	}
	return nil
}

func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// decodeError translates encoding/json's errors into bad_request messages for a client.
func decodeError(err error) error {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(maxErr.Limit)
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body ends in the middle of a JSON value")
	case errors.As(err, &syntaxErr):
		return badRequest("request body is not valid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("request body must be a JSON %s, not %s", jsonKind(typeErr.Type), typeErr.Value)
		}
		if typeErr.Type == amountType || typeErr.Type == durationType {
			// Value holds the parse failure from our own UnmarshalJSON.
			return badRequest("field %q: %s", typeErr.Field, typeErr.Value)
		}
		return badRequest("field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("unknown field %s", field)
	}
	return badRequest("request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names the JSON type a Go type expects, in the words of the JSON spec.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case amountType:
		return "a decimal amount"
	case durationType:
		return "a duration string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// amount is watan.Amount as it arrives in a request. It parses exactly like
// watan.Amount (decimal string or JSON number, never through float64) but fails with
// an *json.UnmarshalTypeError, which encoding/json annotates with the field's name.
type amount watan.Amount

var amountType = reflect.TypeFor[amount]()

func (a *amount) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // encoding/json's convention: null leaves the value alone
	}
	var v watan.Amount
	if err := v.UnmarshalJSON(b); err != nil {
		msg := err.Error()
		if b[0] != '"' && b[0] != '-' && (b[0] < '0' || b[0] > '9') {
			msg = fmt.Sprintf("expected a decimal amount such as \"12.50\", got %s", b)
		}
		return &json.UnmarshalTypeError{Value: msg, Type: amountType}
	}
	*a = amount(v)
	return nil
}

func (a amount) MarshalJSON() ([]byte, error) { return watan.Amount(a).MarshalJSON() }

// duration is a time.Duration that crosses the API as a Go duration string ("10s",
// "1m30s"), because nanosecond integers are unreadable and ambiguous.
type duration time.Duration

var durationType = reflect.TypeFor[duration]()

func (d *duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("expected a duration string such as \"30s\", got %s", b), Type: durationType}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("expected a duration string such as \"30s\", got %q", s), Type: durationType}
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// pathID parses a numeric path parameter. A value that is not a positive integer
// cannot name anything, so it is reported as not found, like an id that names nothing.
func pathID(r *http.Request, name, what string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound("no %s %q", what, s)
	}
	return id, nil
}

// query parses the query string strictly: url.Values would silently drop a
// malformed pair, and a filter the client meant but we dropped lists the wrong rows.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed: %v", err)
	}
	return q, nil
}

// queryInt parses an optional integer query parameter within [min, max]; def when absent.
func queryInt(q url.Values, name string, def, min, max int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest("query parameter %q must be an integer, not %q", name, s)
	}
	if n < min || n > max {
		return 0, invalid("query parameter %q must be between %d and %d", name, min, max)
	}
	return n, nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("query parameter %q must be an RFC 3339 time such as 2026-01-02T15:04:05Z, not %q", name, s)
	}
	return t, nil
}
