package barakat

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"watan/internal/upstream"
)

// turkishFold maps Turkish letters to ASCII, since barakat's messages mix English
// and Turkish ("Yetersiz bakiye").
var turkishFold = strings.NewReplacer(
	"ı", "i", "İ", "i", "ş", "s", "Ş", "s", "ğ", "g", "Ğ", "g",
	"ü", "u", "Ü", "u", "ö", "o", "Ö", "o", "ç", "c", "Ç", "c", "\u0307", "",
)

// fold returns s in the form the keyword classifiers match against.
func fold(s string) string {
	return strings.ToLower(turkishFold.Replace(strings.TrimSpace(s)))
}

func containsAny(folded string, keywords ...string) bool {
	for _, k := range keywords {
		if strings.Contains(folded, k) {
			return true
		}
	}
	return false
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// rawText renders a JSON value of unknown shape as text for a message: a string as
// is, a list or object of messages (Laravel's validation errors) joined, null as "".
func rawText(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) == nil {
		parts := make([]string, 0, len(l))
		for _, v := range l {
			parts = append(parts, rawText(v))
		}
		return joinText(parts...)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		parts := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, rawText(m[k]))
		}
		return joinText(parts...)
	}
	return strings.TrimSpace(string(raw)) // a number or a boolean
}

// joinText joins the non-empty, distinct parts with "; ".
func joinText(parts ...string) string {
	var out []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// isNumber reports whether s looks like an amount ("43.55", "1,5", 12).
func isNumber(s string) bool {
	s = strings.TrimPrefix(strings.TrimSpace(s), "-")
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == ',':
		default:
			return false
		}
	}
	return digits > 0
}

// isPlaceholderPIN reports whether a PIN field holds no code.
func isPlaceholderPIN(pin string) bool {
	pin = strings.TrimSpace(pin)
	if strings.Trim(pin, "-–—_.*/ ") == "" {
		return true
	}
	switch fold(pin) {
	case "null", "nil", "none", "n/a", "false", "0":
		return true
	}
	return false
}

// flexString decodes a JSON string, number or boolean as text.
type flexString = upstream.FlexString

// codes decodes a PIN field: a string or number, or a list of them (an order of
// several units may carry several codes), joined by newlines.
type codes string

func (c *codes) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		var s flexString
		err := s.UnmarshalJSON(b)
		*c = codes(s)
		return err
	}
	var l []flexString
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	parts := make([]string, 0, len(l))
	for _, s := range l {
		if !isPlaceholderPIN(string(s)) {
			parts = append(parts, string(s))
		}
	}
	*c = codes(strings.Join(parts, "\n"))
	return nil
}

// flexBool decodes true, 1, "true" or "1" as true.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(string(s)) {
	case "true", "1", "yes":
		*f = true
	default:
		*f = false
	}
	return nil
}

// flexInt decodes 5 or "5".
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(string(s))
	if err != nil {
		return err
	}
	*f = flexInt(n)
	return nil
}
