package znet_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/providertest"
	"watan/internal/znet"
)

// Credentials with characters that URL escaping changes, and distinctive cores
// ("KODX", "Zq9") so that even a fragment of one would be caught.
const (
	leakKod   = "KODX5550001"
	leakSifre = "Zq9!sifre&p w/ş+="
)

// leakScan collects everything the client produced: results, errors (every link
// of their chains) and log lines.
type leakScan struct {
	mu    sync.Mutex
	seen  []string
	calls int
	errs  int
	logs  bytes.Buffer
}

func (l *leakScan) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&l.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *leakScan) add(result any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.seen = append(l.seen, fmt.Sprintf("%v %+v %#v", result, result, result))
	if err != nil {
		l.errs++
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		l.seen = append(l.seen, e.Error(), fmt.Sprintf("%+v %#v", e, e))
		if ue, ok := e.(*url.Error); ok {
			l.seen = append(l.seen, ue.URL)
		}
	}
}

// assertClean fails if any secret, in any form, appears in what was collected.
func (l *leakScan) assertClean(t *testing.T, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var markers []string
	for _, s := range secrets {
		markers = append(markers, s, url.QueryEscape(s), url.PathEscape(s), fmt.Sprintf("%q", s))
	}
	markers = append(markers, "KODX", "Zq9")
	all := append([]string{l.logs.String()}, l.seen...)
	for _, text := range all {
		for _, m := range markers {
			if strings.Contains(text, m) {
				i := strings.Index(text, m)
				t.Errorf("secret %q leaked in: …%s…", m, text[max(0, i-150):min(len(text), i+len(m)+50)])
			}
		}
	}
	if joined := strings.Join(all, "\n"); !strings.Contains(joined, "[redacted]") {
		t.Error("nothing was scrubbed: the echoing upstreams were not exercised")
	}
	if l.calls < 20 || l.errs < 10 || !strings.Contains(l.logs.String(), "znet call") {
		t.Fatalf("only %d calls, %d errors, %d bytes of logs: the scan proves little", l.calls, l.errs, l.logs.Len())
	}
}

func (l *leakScan) exercise(t *testing.T, c *znet.Client, ref string) {
	t.Helper()
	ctx := t.Context()
	b, err := c.Balance(ctx)
	l.add(b, err)
	ps, err := c.Catalog(ctx)
	l.add(ps, err)
	res, err := c.Place(ctx, watan.PlaceRequest{Referans: ref, Params: map[string]string{"oyun": "1", "kupur": "60"}, PlayerID: "77"})
	l.add(res, err)
	rs, err := c.Check(ctx, []watan.CheckRef{{Referans: ref}})
	l.add(rs, err)
}

// TestSecretsNeverLeak runs every client path, failures included, and scans what
// came out for the dealer code and password.
func TestSecretsNeverLeak(t *testing.T) {
	var scan leakScan
	newLeakClient := func(baseURL, sifre string) *znet.Client {
		c, err := znet.New(znet.Config{BaseURL: baseURL, Kod: leakKod, Sifre: watan.Secret(sifre),
			RequestTimeout: 100 * time.Millisecond, Logger: scan.logger()})
		if err != nil {
			t.Fatal(err)
		}
		scan.add(c, nil) // the client itself, printed
		return c
	}

	sim := providertest.StartZnet(t, providertest.ZnetOptions{Kod: leakKod, Sifre: leakSifre})
	c := newLeakClient(sim.URL(), leakSifre)
	ref := 1000
	next := func() string { ref++; return fmt.Sprint(ref) }

	scan.exercise(t, c, next())
	faults := []providertest.Fault{providertest.FaultEmpty, providertest.FaultHTML, providertest.Fault500,
		providertest.FaultSlow, providertest.FaultDrop, providertest.FaultLostReply}
	for _, f := range faults {
		for _, op := range []providertest.Op{providertest.OpBalance, providertest.OpCatalog, providertest.OpPlace, providertest.OpCheck} {
			sim.InjectFault(op, f, 2) // two, so that net/http's re-send fails too
			scan.exercise(t, c, next())
		}
	}
	// A referans the client refuses to send.
	res, err := c.Place(t.Context(), watan.PlaceRequest{Referans: "not-a-number", Params: map[string]string{"oyun": "1", "kupur": "60"}})
	scan.add(res, err)
	// Wrong credentials: the wrong password is a secret too.
	scan.exercise(t, newLeakClient(sim.URL(), "Zq9-wrong-password"), next())
	// Nothing listens any more.
	_ = sim.Close()
	scan.exercise(t, c, next())

	// Hostile upstreams that echo what they received.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case strings.HasSuffix(r.URL.Path, "pin_listesi.php"):
			fmt.Fprintf(w, `{"success":false,"result":null,"error":"bad sifre %s for %s"}`, q.Get("sifre"), q.Get("kod"))
		case strings.HasSuffix(r.URL.Path, "pin_kontrol.php"):
			fmt.Fprintf(w, "OK|9|x|%s %s %s", q.Get("kod"), q.Get("sifre"), r.URL.RawQuery)
		default:
			fmt.Fprintf(w, "3|Hatalı şifre %s (%s) %s", q.Get("sifre"), q.Get("kod"), r.URL.RawQuery)
		}
	}))
	defer echo.Close()
	scan.exercise(t, newLeakClient(echo.URL, leakSifre), next())
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "XYZ %s", r.URL.RawQuery)
	}))
	defer garbage.Close()
	scan.exercise(t, newLeakClient(garbage.URL, leakSifre), next())
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example"+r.URL.RequestURI(), http.StatusFound)
	}))
	defer redirect.Close()
	scan.exercise(t, newLeakClient(redirect.URL, leakSifre), next())
	scan.exercise(t, newLeakClient(malformedEcho(t), leakSifre), next())

	scan.assertClean(t, leakKod, leakSifre, "Zq9-wrong-password")
}

// malformedEcho starts a server that answers each request with its own request
// line as a malformed status line, which net/http quotes in its error.
func malformedEcho(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				line, _ := bufio.NewReader(conn).ReadString('\n')
				_, _ = io.WriteString(conn, "HTTP/1.1 "+strings.TrimSpace(line)+"\r\n\r\n")
			}()
		}
	}()
	return "http://" + l.Addr().String()
}
