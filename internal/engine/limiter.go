package engine

import (
	"context"
	"sync"
)

// limiter bounds calls in flight per provider account within this process.
type limiter struct {
	mu   sync.Mutex
	sems map[int64]chan struct{}
}

func newLimiter() *limiter { return &limiter{sems: make(map[int64]chan struct{})} }

// acquire waits for a slot of account id (limit n) and returns its release.
func (l *limiter) acquire(ctx context.Context, id int64, n int) (func(), error) {
	l.mu.Lock()
	sem, ok := l.sems[id]
	if !ok || cap(sem) != n {
		if !ok || len(sem) == 0 {
			sem = make(chan struct{}, n)
			l.sems[id] = sem
		}
	}
	l.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
