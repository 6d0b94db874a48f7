// Package upstream holds what the provider clients (znet, barakat) share: an HTTP
// client that never follows redirects, failure values that keep the provider's
// words apart from the sentinel errors.Is matches, and URL redaction for messages.
package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"watan"
	"watan/internal/egress"
)

// NewHTTPClient returns a copy of hc, or a new client whose dialer and TLS handshake
// give up after connect (default watan.DefaultConnectTimeout), that returns
// redirects as answers instead of following them: a redirect would carry the znet
// password in its URL, or net/http would forward the barakat api-token header, to
// wherever it points. With a guard, the new client dials only addresses the guard
// allows, and uses no proxy (a proxy would dial the target out of the guard's
// sight); a client passed in as hc is the caller's to guard.
func NewHTTPClient(hc *http.Client, connect time.Duration, guard *egress.Policy) *http.Client {
	if hc == nil {
		if connect <= 0 {
			connect = watan.DefaultConnectTimeout
		}
		dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
		proxy := http.ProxyFromEnvironment
		if guard != nil {
			dialer, proxy = guard.Dialer(*dialer), nil
		}
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 proxy,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   connect,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   watan.DefaultMaxInFlight, // one per call in flight
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}}
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// RedactURL is for messages about a malformed base URL, which may hold anything a
// user pasted: it drops the query and any password.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		u.RawQuery = ""
		return u.Redacted()
	}
	return "(unparseable)"
}

// Fail is a failed call of operation op.
func Fail(op string, kind watan.FailureKind, err error) *watan.ProviderError {
	return &watan.ProviderError{Kind: kind, Op: op, Err: err}
}

// DetailError is a sentinel error with the words that explain it, often the
// provider's own. The words are kept apart so that a client can scrub credentials
// from them without losing what errors.Is matches.
type DetailError struct {
	Err    error
	Detail string
}

func (e *DetailError) Error() string { return e.Err.Error() + ": " + e.Detail }

// Unwrap returns the sentinel.
func (e *DetailError) Unwrap() error { return e.Err }

// Detailf is a DetailError with formatted words.
func Detailf(err error, format string, args ...any) *DetailError {
	return &DetailError{Err: err, Detail: fmt.Sprintf(format, args...)}
}

// Truncate shortens provider text quoted in errors and events, on a rune boundary,
// so that a whole HTML page never lands in an order's timeline.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// FlexString decodes a JSON string, number or boolean as text: providers' PHP and
// Laravel backends are not consistent about which they send.
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(strings.TrimSpace(s))
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		return fmt.Errorf("want a string, got %.20s", b)
	default:
		*f = FlexString(b)
	}
	return nil
}

// ScrubDetail returns err with scrub applied to the provider's words it quotes (the
// Detail of a *DetailError inside a *watan.ProviderError), keeping the sentinel and
// the failure kind; any other error is returned as it is.
func ScrubDetail(err error, scrub func(string) string) error {
	pe, ok := errors.AsType[*watan.ProviderError](err)
	if !ok {
		return err
	}
	de, ok := pe.Err.(*DetailError)
	if !ok {
		return err
	}
	if scrubbed := scrub(de.Detail); scrubbed != de.Detail {
		return Fail(pe.Op, pe.Kind, &DetailError{Err: de.Err, Detail: scrubbed})
	}
	return err
}
