package httpapi_test

import (
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// tcpProxy forwards loopback connections to a target until it is cut, as a
// network outage between watan and its database would.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

// cutOff drops every connection and refuses new ones.
func (p *tcpProxy) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseDownIs503: when the connection to PostgreSQL is cut, requests get
// 503 unavailable with Retry-After — a client retries — never 500 internal.
func TestDatabaseDownIs503(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Log("needs PostgreSQL (" + storetest.EnvDatabaseURL + "); the SQLite file cannot go away")
		return
	}
	raw := storetest.URL(t, store.EnginePostgres)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	st, err := store.Open(t.Context(), store.Config{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, httpapi.Config{Unavailable: store.IsUnavailable})
	c := e.newTenant("shop")
	c.seed("pubg60", "cust1")

	proxy.cutOff()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/v1/orders", ""},
		{"POST", "/api/v1/orders", orderBody("pubg60", "cust1", 1, "5123", "during-outage")},
		{"GET", "/api/v1/accounts/cust1", ""},
	} {
		req := httptest.NewRequest(r.method, "http://watan.test"+r.path, strings.NewReader(r.body))
		if r.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		res := c.serve(req)
		wantError(t, r.method+" "+r.path, res, 503, watan.ECodeUnavailable)
		if res.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", r.method, r.path)
		}
	}
}
