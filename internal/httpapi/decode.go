package httpapi

import (
	"bytes"
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
	"unicode/utf8"

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
	body, err := io.ReadAll(r.Body) // bounded by the route's MaxBytesReader
	if err != nil {
		return decodeError(err)
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil // nothing but white space: dst keeps its zero value
	}
	// encoding/json would replace invalid bytes with U+FFFD and carry on: the
	// client's text would change silently on its way to the database and provider.
	if !utf8.Valid(body) {
		return badRequest("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// A second value, or garbage after the first, means the client sent something
	// other than what we are about to act on.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return badRequest("request body must hold a single JSON value")
		}
		return badRequest("request body must hold a single JSON value; unexpected data after it")
	}
	// What encoding/json lets through: duplicate keys (the last one wins), keys that
	// match a field only when case is ignored, NUL and lone surrogates in strings.
	return checkMembers(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(dst), "")
}

// checkMembers walks the JSON value that dec holds next, which decodes into a value
// of type t (nil when unknown), and refuses what decodeBody's decoder accepted
// although the client cannot have meant it.
func checkMembers(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return badRequest("request body is not valid JSON: %v", err)
	}
	switch v := tok.(type) {
	case string:
		return checkJSONString(path, v)
	case json.Delim:
		if v == '[' {
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if err := checkMembers(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err := dec.Token()
			return err
		}
		seen := map[string]string{} // lower-cased key → key as sent
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return badRequest("request body is not valid JSON: %v", err)
			}
			key := tok.(string)
			at := joinPath(path, key)
			if err := checkJSONString(at, key); err != nil {
				return err
			}
			folded := strings.ToLower(key)
			if prev, ok := seen[folded]; ok {
				if prev == key {
					return badRequest("field %q appears twice", at)
				}
				return badRequest("fields %q and %q differ only in case", joinPath(path, prev), at)
			}
			seen[folded] = key
			var member reflect.Type
			if t != nil {
				switch t.Kind() {
				case reflect.Map:
					member = t.Elem()
				case reflect.Struct:
					f, ok := jsonField(t, key)
					if !ok {
						return badRequest("unknown field %q (field names are case-sensitive)", at)
					}
					member = f
				}
			}
			if err := checkMembers(dec, member, at); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// checkJSONString refuses NUL and U+FFFD, which is what encoding/json makes of a
// lone surrogate escape such as "\ud800".
func checkJSONString(path, v string) error {
	what := "a string"
	if path != "" {
		what = fmt.Sprintf("field %q", path)
	}
	switch {
	case strings.IndexByte(v, 0) >= 0:
		return badRequest("%s must not contain NUL characters", what)
	case strings.ContainsRune(v, utf8.RuneError):
		return badRequest("%s holds an invalid character (a lone surrogate escape or U+FFFD)", what)
	}
	return nil
}

// jsonField returns the type of t's field whose JSON name is exactly name.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if inner, ok := jsonField(ft, name); ok {
					return inner, true
				}
				continue
			}
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
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
			return badRequest("request body must be %s in JSON, not %s", jsonKind(typeErr.Type), typeErr.Value)
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

// checkURLText refuses a path or query whose decoded text is not valid UTF-8 or
// holds NUL: PostgreSQL cannot compare with such text (it would be a 500), SQLite
// would look it up, and neither can name anything.
func checkURLText(r *http.Request) error {
	if watan.ValidateText("path", r.URL.Path) != nil {
		return badRequest("the path must be valid UTF-8 without NUL characters")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil // the handler's query() reports it
	}
	for k, vs := range q {
		for _, v := range append(vs, k) {
			if watan.ValidateText("query", v) != nil {
				return badRequest("query parameter %q must be valid UTF-8 without NUL characters", strings.ToValidUTF8(k, "?"))
			}
		}
	}
	return nil
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

// pageParams reads the limit (1 to 1000; 0 when absent, for the service's default)
// and cursor of a listing that pages with a cursor.
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	q, err := query(r)
	if err != nil {
		return 0, "", err
	}
	if limit, err = queryInt(q, "limit", 0, 1, 1000); err != nil {
		return 0, "", err
	}
	return limit, q.Get("cursor"), nil
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
