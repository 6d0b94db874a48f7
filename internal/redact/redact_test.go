package redact

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	r := New("tok-Zq9KODX+/= ş", "1234")
	tests := []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"token tok-Zq9KODX+/= ş!", "token [redacted]!"},
		{`status "tok-Zq9KODX+/="`, `status "[redacted]"`}, // a fragment
		{"q=" + url.QueryEscape("tok-Zq9KODX+/= ş"), "q=[redacted]"},
		{"pin 1234 and 12345", "pin [redacted] and [redacted]5"},
		{"echo: Zq9KODX", "echo: [redacted]"}, // 7 characters of it, as a cut body leaves them
		{"xZq9Ky", "x[redacted]y"},            // four characters are enough
		{"Zq9 Zq9", "Zq9 Zq9"},                // three are not
		{"x+/= şy", "x[redacted]y"},
	}
	for _, tt := range tests {
		if got := r.Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := r.Contains(tt.in); got != (tt.in != tt.want) {
			t.Errorf("Contains(%q) = %v", tt.in, got)
		}
	}
}

func TestTextKeepsUTF8(t *testing.T) {
	secret := "şşşşşşşş" // 16 bytes: fragments start and end inside characters
	r := New(secret)
	for _, in := range []string{"a" + secret[:9] + "b", "ğ" + secret + "ğ", secret[3:13]} {
		got := r.Text(in)
		if !utf8.ValidString(got) || strings.Contains(got, "şş") {
			t.Errorf("Text(%q) = %q", in, got)
		}
	}
}

func TestError(t *testing.T) {
	r := New("secret-password")
	clean := errors.New("timeout")
	if got := r.Error(clean); got != clean {
		t.Errorf("a clean error was replaced: %v", got)
	}
	dirty := fmt.Errorf("wrapped: %w", errors.New("echo secret-password"))
	got := r.Error(dirty)
	if strings.Contains(got.Error(), "secret") || errors.Unwrap(got) != nil {
		t.Errorf("Error = %v (chain %v)", got, errors.Unwrap(got))
	}
	for _, u := range got.(interface{ Unwrap() []error }).Unwrap() {
		t.Errorf("kept %v from a chain of plain text", u)
	}
	// The chain's well-known errors survive, and nothing else of it.
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := fmt.Errorf("dial secret-password: %w", errors.Join(syscall.ECONNREFUSED, timeout))
	got = r.Error(refused)
	var te interface{ Timeout() bool }
	if !errors.Is(got, syscall.ECONNREFUSED) || !errors.Is(got, os.ErrDeadlineExceeded) || !errors.As(got, &te) || !te.Timeout() {
		t.Errorf("lost the well-known errors: %#v", got)
	}
	var op *net.OpError
	if errors.As(got, &op) || strings.Contains(got.Error(), "secret") {
		t.Errorf("kept more than the well-known errors: %#v", got)
	}
	if r.Error(nil) != nil {
		t.Error("nil error changed")
	}
	if s := fmt.Sprintf("%v %+v %#v", r, r, r); strings.Contains(s, "secret") {
		t.Errorf("printing the Redactor shows the secret: %s", s)
	}
	var zero Redactor
	if zero.Text("anything") != "anything" || zero.Contains("anything") {
		t.Error("the zero Redactor removes something")
	}
}
