package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterIdle is how long a caller's bucket is kept after its last request.
const limiterIdle = 10 * time.Minute

// limiter is a token bucket per caller, so one busy client cannot starve
// the others (nor an anonymous one flood the sign-up).
type limiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	seen  map[string]*bucket
	swept time.Time
}

type bucket struct {
	l    *rate.Limiter
	last time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond < 0 {
		return nil
	}
	return &limiter{limit: rate.Limit(perSecond), burst: burst, seen: map[string]*bucket{}}
}

// allow takes a token of key's bucket, or says when to come back (429).
func (l *limiter) allow(key string) *Problem {
	if l == nil {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.swept) > limiterIdle {
		for k, b := range l.seen {
			if now.Sub(b.last) > limiterIdle {
				delete(l.seen, k)
			}
		}
		l.swept = now
	}
	b, ok := l.seen[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(l.limit, l.burst)}
		l.seen[key] = b
	}
	b.last = now
	res := b.l.ReserveN(now, 1)
	l.mu.Unlock()
	if !res.OK() {
		return tooMany(time.Second)
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return tooMany(d)
	}
	return nil
}

func tooMany(retry time.Duration) *Problem {
	secs := int((retry + time.Second - 1) / time.Second)
	return problem(http.StatusTooManyRequests, "rate-limited", "too many requests from this identity; slow down").
		with("Retry-After", strconv.Itoa(max(1, secs)))
}
