package watan

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from outside (API bodies, paths, queries, forms, the CLI) reaches the
// database, provider requests, logs and operators' screens. Two levels of care:
// ValidateText for free text (notes, names), ValidateIdentifier for what identifies
// or routes something (codes, player ids, client order ids), where invisible
// characters would let two values look alike or reorder what an operator reads.

// ValidateText returns an ECodeValidation error naming field unless v is valid
// UTF-8 without NUL. (PostgreSQL cannot store NUL in text; SQLite would store it and
// pass it on to providers.)
func ValidateText(field, v string) error {
	switch {
	case !utf8.ValidString(v):
		return Errorf(ECodeValidation, "%s is not valid UTF-8", field)
	case strings.IndexByte(v, 0) >= 0:
		return Errorf(ECodeValidation, "%s must not contain NUL characters", field)
	}
	return nil
}

// ValidateIdentifier is ValidateText that also refuses control characters and the
// invisible characters that change the direction of text (such as U+202E, which
// shows "5123" written after it reversed).
func ValidateIdentifier(field, v string) error {
	if err := ValidateText(field, v); err != nil {
		return err
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return Errorf(ECodeValidation, "%s must not contain control characters", field)
	}
	if strings.ContainsFunc(v, isBidiControl) {
		return Errorf(ECodeValidation, "%s must not contain invisible text-direction characters", field)
	}
	return nil
}

// isBidiControl reports the Unicode bidirectional formatting characters: marks
// (LRM, RLM, ALM), embeddings and overrides (LRE..RLO) and isolates (LRI..PDI).
func isBidiControl(r rune) bool {
	switch {
	case r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	case r >= '\u202a' && r <= '\u202e':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}
