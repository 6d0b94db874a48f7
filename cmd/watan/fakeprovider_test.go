package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/barakat"
	"watan/internal/znet"
)

// fpBuffer is a buffer that a command and a test may use at once.
type fpBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *fpBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *fpBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func fpEnv(vars map[string]string, stdout io.Writer, stderr io.Writer) *Env {
	return &Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: func(k string) string { return vars[k] }}
}

// fakeRun is a "watan fakeprovider" running in-process for a test.
type fakeRun struct {
	znetCheck    []string // the "provider check" arguments its banner prints
	barakatCheck []string
	stderr       *fpBuffer
}

// startFakeProvider runs "watan fakeprovider" on a free loopback port until the
// test ends, and reads from its banner where it serves.
func startFakeProvider(t *testing.T, vars map[string]string, args ...string) *fakeRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	fr := &fakeRun{stderr: &fpBuffer{}}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, fpEnv(vars, pw, fr.stderr), append([]string{"fakeprovider", "--addr", "127.0.0.1:0"}, args...))
		_ = pw.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fakeprovider returned %v", err)
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for fr.znetCheck == nil || fr.barakatCheck == nil {
		line, ok := <-lines
		if !ok {
			cancel()
			t.Fatalf("fakeprovider stopped before serving: %v\n%s", <-done, fr.stderr)
		}
		if _, cmd, ok := strings.Cut(line, "watan provider check "); ok {
			f := append([]string{"provider", "check"}, strings.Fields(cmd)...)
			if strings.Contains(cmd, "--kind znet") {
				fr.znetCheck = f
			} else {
				fr.barakatCheck = f
			}
		}
	}
	go func() {
		for range lines { // keep the pipe flowing until the command ends
		}
	}()
	return fr
}

// flagValue returns the value following name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestFakeProviderServesBothProtocols drives both simulators through the real
// clients, with the base URLs and credentials the banner prints.
func TestFakeProviderServesBothProtocols(t *testing.T) {
	fr := startFakeProvider(t, nil, "--delay", "fixed:0s", "--cancel-rate", "0", "--stuck-rate", "0", "--pin-at-placement-rate", "0")
	ctx := t.Context()

	zc, err := znet.New(znet.Config{BaseURL: flagValue(fr.znetCheck, "--base-url"),
		Kod: watan.Secret(flagValue(fr.znetCheck, "--kod")), Sifre: watan.Secret(flagValue(fr.znetCheck, "--sifre"))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := zc.Place(ctx, watan.PlaceRequest{Referans: "42", Params: map[string]string{"oyun": "1", "kupur": "60"}, PlayerID: "7"})
	if err != nil || res.Outcome != watan.PlaceAccepted {
		t.Fatalf("znet place = %+v, %v", res, err)
	}
	if rs, err := zc.Check(ctx, []watan.CheckRef{{Referans: "42"}}); err != nil || rs[0].Outcome != watan.CheckDelivered {
		t.Fatalf("znet check = %+v, %v", rs, err)
	}

	bc, err := barakat.New(barakat.Config{BaseURL: flagValue(fr.barakatCheck, "--base-url"), Token: watan.Secret(flagValue(fr.barakatCheck, "--token"))})
	if err != nil {
		t.Fatal(err)
	}
	res, err = bc.Place(ctx, watan.PlaceRequest{Referans: "43", ProductID: "12346", Quantity: 100, PlayerID: "7"})
	if err != nil || res.Outcome != watan.PlaceAccepted {
		t.Fatalf("barakat place = %+v, %v", res, err)
	}
	if rs, err := bc.Check(ctx, []watan.CheckRef{{Referans: "43", ProviderOrderID: res.ProviderOrderID}}); err != nil || rs[0].Outcome != watan.CheckDelivered {
		t.Fatalf("barakat check = %+v, %v", rs, err)
	}
	if !strings.Contains(fr.stderr.String(), "order placed") {
		t.Errorf("no placement logged:\n%s", fr.stderr)
	}
}

// TestFakeProviderFaultsFromEnvironment sets a fault rate through its environment
// variable: every request fails, and provider check says so.
func TestFakeProviderFaultsFromEnvironment(t *testing.T) {
	fr := startFakeProvider(t, map[string]string{"WATAN_FAKEPROVIDER_FAULT_500": "1"})
	var out fpBuffer
	err := run(t.Context(), fpEnv(nil, &out, io.Discard), fr.znetCheck)
	if !errors.Is(err, errCheckFailed) || !strings.Contains(out.String(), "500 Internal Server Error: the provider's server failed") {
		t.Errorf("err = %v, output:\n%s", err, out.String())
	}
}

func TestFakeProviderRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"non-loopback", []string{"--addr", "0.0.0.0:0"}, nil, "loopback"},
		{"rate", []string{"--addr", "127.0.0.1:0", "--cancel-rate", "1.5"}, nil, "between 0 and 1"},
		{"rates add up", []string{"--addr", "127.0.0.1:0", "--fault-html", "0.6", "--fault-drop", "0.6"}, nil, "add up"},
		{"delay", []string{"--addr", "127.0.0.1:0", "--delay", "gaussian:1s"}, nil, "unknown distribution"},
		{"environment", []string{"--addr", "127.0.0.1:0"}, map[string]string{"WATAN_FAKEPROVIDER_SEED": "x"}, "$WATAN_FAKEPROVIDER_SEED"},
		{"balance", []string{"--addr", "127.0.0.1:0", "--balance", "lots"}, nil, "balance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), fpEnv(tt.vars, io.Discard, io.Discard), append([]string{"fakeprovider"}, tt.args...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestFakeProviderHelp(t *testing.T) {
	var stderr fpBuffer
	err := run(t.Context(), fpEnv(nil, io.Discard, &stderr), []string{"fakeprovider", "--help"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("err = %v", err)
	}
	for _, want := range []string{"/znet/servis/", "/barakat/client/api/", "-fault-lost-reply", "$WATAN_FAKEPROVIDER_DELAY", "lognormal"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if err := run(t.Context(), fpEnv(nil, io.Discard, io.Discard), []string{"fakeprovider", "--no-such-flag"}); !errors.Is(err, errUsage) {
		t.Errorf("bad flag: err = %v", err)
	}
}

func TestParseDelay(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		spec     string
		min, max time.Duration
	}{
		{"10s", 10 * time.Second, 10 * time.Second},
		{"fixed:0s", 0, 0},
		{"uniform:2s..30s", 2 * time.Second, 30 * time.Second},
		{"lognormal:10s", time.Second, 10 * time.Minute},
		{"lognormal:10s,0", 10 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		d, err := parseDelay(tt.spec)
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		for range 50 {
			if got := d(r); got < tt.min || got > tt.max {
				t.Errorf("%q drew %s, want [%s, %s]", tt.spec, got, tt.min, tt.max)
			}
		}
	}
	for _, bad := range []string{"", "fast", "fixed:-1s", "uniform:30s..2s", "uniform:2s", "lognormal:0s", "lognormal:1s,x", "poisson:1s"} {
		if _, err := parseDelay(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
