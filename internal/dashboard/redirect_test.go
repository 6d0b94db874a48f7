package dashboard

import "testing"

// TestLocalPath holds the redirect filter to "a single / followed by a path
// character, nothing stripped": every probe that a browser would read as another
// site, or that needs stripping to look local, falls back.
func TestLocalPath(t *testing.T) {
	for _, p := range []string{"/", "/orders", "/orders/12?status=pending", "/providers#x", "/%D8%B7", "/@me", "/orders/12/"} {
		if got := localPath(p, "DEF"); got != p {
			t.Errorf("localPath(%q) = %q, want it kept", p, got)
		}
	}
	for _, p := range []string{
		"", "orders", "//evil.example", "/\\evil.example", "/\t/evil.example", "/%09/evil.example"[:1] + "\t/evil.example",
		"/\n/evil.example", "/\r/evil.example", " /orders", "/ /evil", "\t/orders", "https://evil.example", "/\\/evil",
		"/orders\\..\\x", "/?next=//evil", "/\x00", "/\x7f",
	} {
		if got := localPath(p, "DEF"); got != "DEF" {
			t.Errorf("localPath(%q) = %q, want the default", p, got)
		}
	}
}
