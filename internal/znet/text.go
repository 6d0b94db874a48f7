package znet

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// bom is the UTF-8 byte order mark some Windows-edited PHP files print before
// every answer.
var bom = []byte{0xEF, 0xBB, 0xBF}

// normalize turns a raw body into the text the parsers read: valid UTF-8, without
// a byte order mark, without surrounding whitespace or CR/LF.
func normalize(body []byte) string {
	body = bytes.TrimPrefix(body, bom)
	s := string(body)
	if !utf8.ValidString(s) {
		s = decodeWindows1254(body)
	}
	return strings.TrimSpace(s)
}

// windows1254 maps the bytes of the Turkish Windows code page that differ from
// Latin-1. Older panels answer in it instead of UTF-8; without the mapping the
// Turkish words the classifiers look for ("bulunamadı", "gönderildi") would not
// match.
var windows1254 = map[byte]rune{
	0x80: '€', 0x82: '‚', 0x83: 'ƒ', 0x84: '„', 0x85: '…', 0x86: '†', 0x87: '‡',
	0x88: 'ˆ', 0x89: '‰', 0x8A: 'Š', 0x8B: '‹', 0x8C: 'Œ', 0x91: '‘', 0x92: '’',
	0x93: '“', 0x94: '”', 0x95: '•', 0x96: '–', 0x97: '—', 0x98: '˜', 0x99: '™',
	0x9A: 'š', 0x9B: '›', 0x9C: 'œ', 0x9F: 'Ÿ',
	0xD0: 'Ğ', 0xDD: 'İ', 0xDE: 'Ş', 0xF0: 'ğ', 0xFD: 'ı', 0xFE: 'ş',
}

func decodeWindows1254(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, c := range b {
		switch r, ok := windows1254[c]; {
		case ok:
			sb.WriteRune(r)
		case c < 0x80 || c >= 0xA0:
			sb.WriteRune(rune(c)) // Latin-1 agrees with the code page here
		default:
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}

// turkishFold maps the letters that make Turkish text hard to match ("İşlem",
// "ISLEM", "işlem") to plain ASCII.
var turkishFold = strings.NewReplacer(
	"ı", "i", "İ", "i", "I", "i", "ş", "s", "Ş", "s", "ğ", "g", "Ğ", "g",
	"ü", "u", "Ü", "u", "ö", "o", "Ö", "o", "ç", "c", "Ç", "c",
	"â", "a", "Â", "a", "î", "i", "Î", "i", "û", "u", "Û", "u",
	"\u0307", "", // the combining dot that strings.ToLower leaves after "İ"
)

// fold returns s in the form the keyword classifiers match against: lower case
// ASCII for the Turkish letters, so "Daha Önce Gönderilmiş" contains
// "daha once gonder".
func fold(s string) string {
	return strings.ToLower(turkishFold.Replace(s))
}

func containsAny(folded string, keywords ...string) bool {
	for _, k := range keywords {
		if strings.Contains(folded, k) {
			return true
		}
	}
	return false
}

// fields splits a "|"-separated answer into at most n trimmed fields.
func fields(s string, n int) []string {
	parts := strings.SplitN(s, "|", n)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// isNumber reports whether s looks like an amount as znet prints it ("12755.23",
// "980,88", "-3"). Amounts are kept as sent; this only guards against taking
// arbitrary text for one.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
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

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isPlaceholderPIN reports whether a PIN field holds no code: panels send " ",
// " - " or similar while an order is pending, and such a value must never be stored
// or shown as a PIN.
func isPlaceholderPIN(pin string) bool {
	pin = strings.TrimSpace(pin)
	if strings.Trim(pin, "-–—_.*/ ") == "" {
		return true
	}
	switch fold(pin) {
	case "null", "nil", "none", "n/a", "yok", "bekleniyor":
		return true
	}
	return false
}
