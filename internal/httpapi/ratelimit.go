package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientLimiter holds one token bucket (golang.org/x/time/rate) per client
// address. Buckets idle for longer than it takes them to refill completely are
// dropped, so the map stays as small as the set of clients active lately.
type clientLimiter struct {
	every rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	clients map[string]*clientBucket
	swept   time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimiter(perSecond float64, burst int, now func() time.Time) *clientLimiter {
	return &clientLimiter{every: rate.Limit(perSecond), burst: burst, now: now, clients: map[string]*clientBucket{}}
}

// allow takes one token of client's bucket. When there is none it returns false
// and how long until there is.
func (l *clientLimiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	idle := time.Duration(float64(l.burst)/float64(l.every)*float64(time.Second)) + time.Minute
	if now.Sub(l.swept) > idle {
		for k, b := range l.clients {
			if now.Sub(b.seen) > idle {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	b, ok := l.clients[client]
	if !ok {
		b = &clientBucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.clients[client] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// clientAddress is the host part of the request's remote address: a proxy in front
// of watan makes all its clients one, so set the limit with that in mind.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// retryAfter is the Retry-After value for a wait of d: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
