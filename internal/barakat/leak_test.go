package barakat_test

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
	"watan/internal/barakat"
	"watan/internal/providertest"
)

// leakToken has characters that URL escaping changes and a distinctive core
// ("Zq9KODX") so that even a fragment would be caught.
const leakToken = "tok-Zq9KODX+/= ş"

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

func (l *leakScan) assertClean(t *testing.T, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var markers []string
	for _, s := range secrets {
		markers = append(markers, s, url.QueryEscape(s), url.PathEscape(s), fmt.Sprintf("%q", s))
	}
	markers = append(markers, "Zq9KODX")
	all := append([]string{l.logs.String()}, l.seen...)
	for _, text := range all {
		for _, m := range markers {
			if i := strings.Index(text, m); i >= 0 {
				t.Errorf("secret %q leaked in: …%s…", m, text[max(0, i-150):min(len(text), i+len(m)+50)])
			}
		}
	}
	if !strings.Contains(strings.Join(all, "\n"), "[redacted]") {
		t.Error("nothing was scrubbed: the echoing upstreams were not exercised")
	}
	if l.calls < 20 || l.errs < 10 || !strings.Contains(l.logs.String(), "barakat call") {
		t.Fatalf("only %d calls, %d errors, %d bytes of logs: the scan proves little", l.calls, l.errs, l.logs.Len())
	}
}

func (l *leakScan) exercise(t *testing.T, c *barakat.Client, ref string) {
	t.Helper()
	ctx := t.Context()
	b, err := c.Balance(ctx)
	l.add(b, err)
	ps, err := c.Catalog(ctx)
	l.add(ps, err)
	res, err := c.Place(ctx, watan.PlaceRequest{Referans: ref, ProductID: "12346", Quantity: 100, PlayerID: "77"})
	l.add(res, err)
	rs, err := c.Check(ctx, []watan.CheckRef{{Referans: ref}, {Referans: ref, ProviderOrderID: res.ProviderOrderID + "1"}})
	l.add(rs, err)
}

// TestSecretsNeverLeak runs every client path, failures included, and scans what
// came out for the token.
func TestSecretsNeverLeak(t *testing.T) {
	var scan leakScan
	newLeakClient := func(baseURL, tok string) *barakat.Client {
		c, err := barakat.New(barakat.Config{BaseURL: baseURL, Token: watan.Secret(tok),
			RequestTimeout: 100 * time.Millisecond, Logger: scan.logger()})
		if err != nil {
			t.Fatal(err)
		}
		scan.add(c, nil)
		return c
	}
	sim := providertest.StartBarakat(t, providertest.BarakatOptions{Token: leakToken})
	c := newLeakClient(sim.URL(), leakToken)
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
	scan.exercise(t, newLeakClient(sim.URL(), "Zq9KODX-wrong"), next())
	_ = sim.Close()
	scan.exercise(t, c, next())

	// Hostile upstreams that echo the token.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("api-token")
		switch {
		case strings.HasSuffix(r.URL.Path, "/profile"):
			fmt.Fprintf(w, `{"status":"ERROR","message":"invalid token %s"}`, tok)
		case strings.HasSuffix(r.URL.Path, "/products"):
			fmt.Fprintf(w, `[{"id":"1","name":"for %s","price":"1"}]`, tok)
		case strings.HasSuffix(r.URL.Path, "/check"):
			fmt.Fprintf(w, `{"status":"ERROR","message":"bad request from %s"}`, tok)
		default:
			fmt.Fprintf(w, `{"status":"OK","data":{"order_id":"1","status":"wait","note":"hello %s"}}`, tok)
		}
	}))
	defer echo.Close()
	scan.exercise(t, newLeakClient(echo.URL, leakToken), next())
	status401 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"message":"token %s is not valid"}`, r.Header.Get("api-token"))
	}))
	defer status401.Close()
	scan.exercise(t, newLeakClient(status401.URL, leakToken), next())
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "XYZ %s", r.Header.Get("api-token"))
	}))
	defer garbage.Close()
	scan.exercise(t, newLeakClient(garbage.URL, leakToken), next())
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/?t="+url.QueryEscape(r.Header.Get("api-token")), http.StatusFound)
	}))
	defer redirect.Close()
	scan.exercise(t, newLeakClient(redirect.URL, leakToken), next())
	scan.exercise(t, newLeakClient(malformedEcho(t), leakToken), next())

	scan.assertClean(t, leakToken, "Zq9KODX-wrong")
}

// malformedEcho starts a server that answers each request with its token header
// as a malformed status line, which net/http quotes in its error.
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
				br := bufio.NewReader(conn)
				tok := ""
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
					if v, ok := strings.CutPrefix(line, "api-token: "); ok {
						tok = strings.TrimSpace(v)
					}
				}
				_, _ = io.WriteString(conn, "HTTP/1.1 "+tok+"\r\n\r\n")
			}()
		}
	}()
	return "http://" + l.Addr().String()
}
