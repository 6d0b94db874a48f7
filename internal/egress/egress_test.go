package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"watan/internal/egress"
)

// TestCheckURL runs the probes that once reached internal services through webhook
// and provider URLs, and a few that must keep working.
func TestCheckURL(t *testing.T) {
	var strict egress.Policy
	refused := []string{
		"http://127.0.0.1:5432/", "http://[::1]/", "http://localhost:8080/", "http://api.localhost/",
		"http://0.0.0.0/", "http://127.1/", "http://2130706433/", "http://0x7f.1/", "http://017700000001/",
		"http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/", "http://172.16.3.4/", "http://192.168.1.1/",
		"http://100.64.0.1/", "http://[fe80::1]/", "http://[fc00::1]/", "http://[::ffff:127.0.0.1]/",
		"http://[64:ff9b::7f00:1]/", "http://224.0.0.1/", "http://255.255.255.255/",
	}
	for _, u := range refused {
		if err := strict.CheckURL(u); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("CheckURL(%q) = %v, want refused by policy", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com/", "http://user:pass@example.com/", "http:///x", "not a url"} {
		if err := strict.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) accepted", u)
		}
	}
	for _, u := range []string{"https://shop.example.com/hooks", "http://api.x-stor.net", "https://8.8.8.8/", "http://bayi1.example.com:8080/"} {
		if err := strict.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want accepted", u, err)
		}
	}
	loop := egress.Policy{Allow: egress.Loopback}
	if err := loop.CheckURL("http://127.0.0.1:9/"); err != nil {
		t.Errorf("loopback allowed by prefix: %v", err)
	}
	if err := loop.CheckURL("http://10.0.0.1/"); err == nil {
		t.Error("an allowed loopback prefix let a private address through")
	}
	if err := (egress.Policy{AllowPrivate: true}).CheckURL("http://localhost/"); err != nil {
		t.Errorf("AllowPrivate: %v", err)
	}
}

// TestControlRefusesAtDial: the check at dial time sees the address actually
// connected to, whatever the URL said (a DNS name that resolves to loopback, as
// DNS rebinding makes it), and the request never reaches the server.
func TestControlRefusesAtDial(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	client := func(p egress.Policy) *http.Client {
		d := p.Dialer(net.Dialer{Timeout: 5 * time.Second})
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	req := func(c *http.Client) error {
		r, _ := http.NewRequestWithContext(context.Background(), "GET", "http://localhost:"+port+"/", nil)
		resp, err := c.Do(r)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := req(client(egress.Policy{})); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("dial to loopback = %v, want refused by policy", err)
	}
	if hits != 0 {
		t.Fatal("the refused request reached the server")
	}
	if err := req(client(egress.Policy{Allow: egress.Loopback})); err != nil || hits != 1 {
		t.Fatalf("allowed loopback: %v, %d hits", err, hits)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := egress.ParsePrefixes(" 10.1.0.0/16, 192.168.5.7 ,fd00::/8")
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.168.5.7/32"), netip.MustParsePrefix("fd00::/8")}
	if err != nil || len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("ParsePrefixes = %v, %v", got, err)
	}
	if _, err := egress.ParsePrefixes("10.0.0.0/99"); err == nil {
		t.Error("a bad prefix was accepted")
	}
}
