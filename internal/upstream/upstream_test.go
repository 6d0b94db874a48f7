package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"watan"
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
		resp, err := NewHTTPClient(hc, 0).Get(redirect.URL)
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
