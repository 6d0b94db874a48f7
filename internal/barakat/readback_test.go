package barakat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"watan/internal/barakat"
)

// TestNoReadBackOfForeignAnswers: JSON or text from something that is not a
// barakat API (an internal service behind a wrong base URL) is classified, never
// quoted back into messages.
func TestNoReadBackOfForeignAnswers(t *testing.T) {
	for _, body := range []string{
		`{"cluster_name":"INTERNAL-ONLY","version":{"number":"8.1"}}`,
		`INTERNAL-ONLY plain text`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(body))
		}))
		c, err := barakat.New(barakat.Config{BaseURL: srv.URL, Token: "token-0123456789"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Balance(context.Background())
		srv.Close()
		if err == nil || strings.Contains(err.Error(), "INTERNAL-ONLY") {
			t.Fatalf("balance error %v quotes the foreign answer %q", err, body)
		}
	}
}
