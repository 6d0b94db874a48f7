package main

import (
	"log/slog"
	"net/http"
	"testing"

	"watan"
)

// TestHTTPServerTimeouts: every timeout of the serving HTTP server is set, and the
// write timeout outlasts the longest handler (a provider call of up to
// watan.MaxRequestTimeout), so a slow client cannot hold a connection forever and a
// slow provider cannot cut an operator's answer short.
func TestHTTPServerTimeouts(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %s, read %s, write %s, idle %s", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	if srv.WriteTimeout <= watan.MaxRequestTimeout {
		t.Errorf("write timeout %s does not outlast a provider call of %s", srv.WriteTimeout, watan.MaxRequestTimeout)
	}
}
