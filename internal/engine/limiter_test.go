package engine

import (
	"context"
	"testing"
)

func TestLimiterBoundsCallsPerAccount(t *testing.T) {
	l := newLimiter()
	ctx := context.Background()
	var releases []func()
	for range 3 {
		r, err := l.acquire(ctx, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	// A fourth call waits; a cancelled wait gives up with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.acquire(cctx, 1, 3); err == nil {
		t.Fatal("a fourth call got a slot while three were in flight")
	}
	// Another account has its own slots.
	if r, err := l.acquire(ctx, 2, 3); err != nil {
		t.Fatalf("other account: %v", err)
	} else {
		r()
	}
	got := make(chan struct{})
	go func() {
		r, err := l.acquire(ctx, 1, 3)
		if err == nil {
			r()
		}
		close(got)
	}()
	releases[0]()
	<-got
}
