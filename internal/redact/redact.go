// Package redact removes credentials from text that leaves a provider client:
// error messages, provider messages, log values. It removes them whole, in the forms
// URL escaping gives them, and in fragments, because a server that echoes part of a
// credential (net/http quotes a malformed status line only up to its first space)
// leaks it as surely as one that echoes all of it.
package redact

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Placeholder replaces what is removed.
const Placeholder = "[redacted]"

// MinFragment is the shortest piece of a credential that is removed on its own.
// Credentials shorter than this are removed only whole, since shorter pieces would
// match ordinary words and numbers.
const MinFragment = 8

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

// Error returns err unchanged if its text holds no credential, and otherwise a
// plain error with the redacted text. The chain is dropped in that case, because
// some link of it carries the credential.
func (r *Redactor) Error(err error) error {
	if err == nil || !r.Contains(err.Error()) {
		return err
	}
	return errors.New(r.Text(err.Error()))
}
