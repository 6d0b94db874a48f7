package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"watan"
	"watan/internal/egress"
)

func TestNewHTTPClientNeverFollowsRedirects(t *testing.T) {
	followed := false
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed = true }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/?sifre=secret", http.StatusFound)
	}))
	defer redirect.Close()

	for _, hc := range []*http.Client{nil, redirect.Client()} {
		resp, err := NewHTTPClient(hc, 0, nil).Get(redirect.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || followed {
			t.Fatalf("status %d, followed %v: a redirect must come back as the answer", resp.StatusCode, followed)
		}
	}
	if hc := redirect.Client(); hc.CheckRedirect != nil {
		t.Fatal("the caller's client was changed")
	}
}

// TestGuardedClientRefusesPrivateTargets: a provider client built with the egress
// policy never connects to a loopback server (a base URL that resolves there after
// it was saved), and the failure names the policy.
func TestGuardedClientRefusesPrivateTargets(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	_, err := NewHTTPClient(nil, 0, &egress.Policy{}).Get(srv.URL)
	if !errors.Is(err, egress.ErrRefused) || hit {
		t.Fatalf("guarded client: err %v, server hit %v", err, hit)
	}
	resp, err := NewHTTPClient(nil, 0, &egress.Policy{Allow: egress.Loopback}).Get(srv.URL)
	if err != nil || !hit {
		t.Fatalf("loopback allowed: err %v, server hit %v", err, hit)
	}
	resp.Body.Close()
}

func TestRedactURLAndDetail(t *testing.T) {
	got := RedactURL("http://user:pw@bayi.example.com/servis?kod=1&sifre=secret")
	if strings.Contains(got, "secret") || strings.Contains(got, "pw") {
		t.Fatalf("RedactURL left a secret: %q", got)
	}
	sentinel := errors.New("empty answer")
	err := Fail("place", watan.FailMisconfigured, Detailf(sentinel, "%q", "words"))
	if !errors.Is(err, sentinel) || !watan.IsMisconfigured(err) || !strings.Contains(err.Error(), `"words"`) {
		t.Fatalf("failure %v loses its sentinel, kind or words", err)
	}
}
