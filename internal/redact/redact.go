// Package redact removes credentials from text that leaves a provider client:
// error messages, provider messages, log values. It removes them whole, in the forms
// URL escaping gives them, and in fragments, because a server that echoes part of a
// credential (net/http quotes a malformed status line only up to its first space)
// leaks it as surely as one that echoes all of it.
package redact

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Placeholder replaces what is removed.
const Placeholder = "[redacted]"

// MinFragment is the shortest piece of a credential that is removed on its own:
// a body cut to a length limit before it reached a message once left 7 characters
// of a token, which is enough to narrow a guess. Credentials shorter than this are
// removed only whole, since shorter pieces would match ordinary words and numbers;
// four-character pieces sometimes do, and over-redacting a message is the cheaper
// mistake.
const MinFragment = 4

// Redactor removes a fixed set of credentials. Its zero value removes nothing. It
// is safe for concurrent use.
type Redactor struct {
	pieces []string // fragments and short secrets, longest first
}

// New returns a Redactor for the given credentials; empty ones are ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if len(form) < MinFragment {
				r.add(form)
				continue
			}
			for i := 0; i+MinFragment <= len(form); i++ {
				r.add(form[i : i+MinFragment])
			}
		}
	}
	slices.SortStableFunc(r.pieces, func(a, b string) int { return len(b) - len(a) })
	return r
}

func (r *Redactor) add(piece string) {
	if !slices.Contains(r.pieces, piece) {
		r.pieces = append(r.pieces, piece)
	}
}

// String describes the Redactor without the credentials it holds.
func (r *Redactor) String() string { return "redact.Redactor" }

// GoString is String, for %#v.
func (r *Redactor) GoString() string { return r.String() }

// Contains reports whether text holds any credential or fragment of one.
func (r *Redactor) Contains(text string) bool {
	for _, p := range r.pieces {
		if strings.Contains(text, p) {
			return true
		}
	}
	return false
}

// Text returns text with every credential and fragment replaced by Placeholder.
// Overlapping and adjacent matches become one placeholder, widened to whole UTF-8
// characters so that the result stays valid text.
func (r *Redactor) Text(text string) string {
	var marked []bool
	for _, p := range r.pieces {
		for from := 0; ; {
			i := strings.Index(text[from:], p)
			if i < 0 {
				break
			}
			if marked == nil {
				marked = make([]bool, len(text))
			}
			start, end := from+i, from+i+len(p)
			for start > 0 && !utf8.RuneStart(text[start]) {
				start--
			}
			for end < len(text) && !utf8.RuneStart(text[end]) {
				end++
			}
			for j := start; j < end; j++ {
				marked[j] = true
			}
			from += i + 1
		}
	}
	if marked == nil {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if !marked[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		for i < len(text) && marked[i] {
			i++
		}
		b.WriteString(Placeholder)
	}
	return b.String()
}

// Error returns err unchanged if its text holds no credential. Otherwise it returns
// an error with the redacted text whose chain keeps only the well-known errors the
// original matched (deadlines, cancellation, refused or reset connections, EOF),
// which carry no text from outside, so that errors.Is and timeouts still work.
func (r *Redactor) Error(err error) error {
	if err == nil || !r.Contains(err.Error()) {
		return err
	}
	e := &redactedError{msg: r.Text(err.Error())}
	for _, s := range wellKnown {
		if errors.Is(err, s) {
			e.kept = append(e.kept, s)
		}
	}
	e.timeout = timeout(err)
	return e
}

// timeout reports whether any error in err's tree says it is a timeout.
func timeout(err error) bool {
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap() != nil && timeout(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if timeout(e) {
				return true
			}
		}
	}
	return false
}

// wellKnown are errors whose identity matters to callers and whose text is fixed.
var wellKnown = []error{
	context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded, net.ErrClosed,
	io.EOF, io.ErrUnexpectedEOF, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
	syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
}

type redactedError struct {
	msg     string
	kept    []error
	timeout bool
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.kept }
func (e *redactedError) Timeout() bool   { return e.timeout }
