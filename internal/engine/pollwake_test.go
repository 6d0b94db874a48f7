package engine

import (
	"context"
	"testing"
	"time"
)

// A check scheduled sooner than the sleeping poller would wake wakes it; one
// scheduled while it is awake shortens its next sleep. Were either lost, the
// sleep below would last an hour and the test would time out.
func TestPollWakeWakesForASoonerCheck(t *testing.T) {
	w := newPollWake()
	now := time.Now()
	slept := make(chan bool)
	go func() { slept <- w.sleep(context.Background(), now, time.Hour) }()
	for {
		w.mu.Lock()
		asleep := !w.until.IsZero()
		w.mu.Unlock()
		if asleep {
			break
		}
		time.Sleep(time.Millisecond)
	}
	w.at(now.Add(2 * time.Hour)) // later than the wake: nothing to do
	w.at(now.Add(time.Second))
	if !<-slept {
		t.Fatal("sleep reported its context done")
	}

	// Awake: the announcement is kept for the next sleep, which is due at once.
	w.at(now.Add(-time.Second))
	if !w.sleep(context.Background(), now, time.Hour) {
		t.Fatal("sleep reported its context done")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if w.sleep(ctx, now, time.Hour) {
		t.Fatal("sleep on a cancelled context reported it live")
	}
}
