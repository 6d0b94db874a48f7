package znet_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"watan/internal/znet"
)

// TestNoReadBackOfForeignAnswers: a base URL pointed at something that is not a
// znet panel (an internal service) gets its answer classified, never quoted, so
// provider messages, events and pages cannot read the service back.
func TestNoReadBackOfForeignAnswers(t *testing.T) {
	const inside = "redis_version:7.2.4 requirepass=INTERNAL-ONLY"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(inside))
	}))
	defer srv.Close()
	c, err := znet.New(znet.Config{BaseURL: srv.URL, Kod: "5551234", Sifre: "sifre-0123"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Balance(context.Background())
	if err == nil || strings.Contains(err.Error(), "INTERNAL-ONLY") || strings.Contains(err.Error(), "redis") {
		t.Fatalf("balance error %v quotes the foreign answer", err)
	}
}
