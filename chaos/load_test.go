//go:build chaos

package chaos

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
)

// Kinds of booking the load posts, each with the outcomes it may end in.
const (
	kindValid         = "valid"          // alice/bob/carol, show-1, tok_ok: completed, or compensated (sold out, timeouts)
	kindBlocked       = "blocked"        // mallory: compensated at VerifyUser
	kindSmall         = "small"          // show-small (2 seats): mostly sold out
	kindDeclined      = "declined"       // tok_declined: compensated, seats released
	kindTimeout       = "timeout"        // tok_timeout: ChargePayment never answers; compensated
	kindRefundFails   = "refund_fails"   // show-cancelled + tok_refund_fails: parked failed until retried
	kindCancelledShow = "cancelled_show" // show-cancelled + tok_ok: refunded, compensated
)

// kinds lists the kinds in report order.
var kinds = []string{kindValid, kindBlocked, kindSmall, kindDeclined, kindTimeout, kindRefundFails, kindCancelledShow}

// neverCompletes are kinds whose bookings must never complete.
var neverCompletes = map[string]bool{kindBlocked: true, kindDeclined: true, kindTimeout: true,
	kindRefundFails: true, kindCancelledShow: true}

// Weights of the operations, in percent of requests: new bookings by kind,
// duplicates (an earlier request posted again with its idempotency key)
// and cancellations of earlier valid bookings.
var mix = []struct {
	op     string
	weight int
}{
	{kindValid, 50}, {kindBlocked, 8}, {kindSmall, 8}, {kindDeclined, 8}, {kindTimeout, 5},
	{kindRefundFails, 4}, {kindCancelledShow, 4}, {"duplicate", 8}, {"cancel", 5},
}

// booking is one distinct request the load posted.
type booking struct {
	Key    string
	Kind   string
	Req    client.BookRequest
	SagaID string
	Ref    string
	// Posted is when the first post was acknowledged.
	Posted time.Time
}

// load posts requests through the client package, as users would: when
// a post fails (the broker is restarting) it is posted again with the same
// idempotency key until it is acknowledged.
type load struct {
	cfg      bus.Config
	rng      *rand.Rand
	rngMu    sync.Mutex
	clientMu sync.Mutex
	cl       *client.Client

	mu        sync.Mutex
	bookings  []*booking
	cancelled map[string]bool // booking refs whose cancellation was posted

	posts        atomic.Int64 // requests acknowledged (bookings, duplicates, cancels)
	failedPosts  atomic.Int64 // posts that failed and were posted again
	failuresMu   sync.Mutex
	failures     []string     // the first few of those failures, when and why
	duplicates   atomic.Int64 // duplicate posts acknowledged
	cancelPosts  atomic.Int64 // cancel posts acknowledged
	cancelRefuse atomic.Int64 // cancels refused: the booking was not completed (yet)
	reconnects   atomic.Int64
	wg           sync.WaitGroup
	errs         chan error
}

// newRand returns a generator for one purpose of a run: the run's seed and
// the purpose hashed into a ChaCha8 key, so that nearby seeds (they come
// from the clock) still give unrelated sequences.
func newRand(seed uint64, purpose string) *rand.Rand {
	return rand.New(rand.NewChaCha8(sha256.Sum256([]byte(fmt.Sprintf("%d/%s", seed, purpose)))))
}

func newLoad(cfg bus.Config, rng *rand.Rand) *load {
	return &load{cfg: cfg, rng: rng,
		cancelled: map[string]bool{}, errs: make(chan error, 100)}
}

func (l *load) intn(n int) int {
	l.rngMu.Lock()
	defer l.rngMu.Unlock()
	return l.rng.IntN(n)
}

// client returns a connected client, connecting when there is none.
func (l *load) client(ctx context.Context) (*client.Client, error) {
	l.clientMu.Lock()
	defer l.clientMu.Unlock()
	if l.cl != nil {
		return l.cl, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := client.New(cctx, l.cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		return nil, err
	}
	l.cl = c
	return c, nil
}

// reset drops c so the next call connects again.
func (l *load) reset(c *client.Client) {
	l.clientMu.Lock()
	defer l.clientMu.Unlock()
	if l.cl == c && c != nil {
		_ = c.Close()
		l.cl = nil
		l.reconnects.Add(1)
	}
}

func (l *load) close() {
	l.wg.Wait()
	l.clientMu.Lock()
	defer l.clientMu.Unlock()
	if l.cl != nil {
		_ = l.cl.Close()
		l.cl = nil
	}
}

// retryGive is how long one request is posted again before the load gives
// up on it (and the test fails).
const retryGive = 3 * time.Minute

// post runs do until it succeeds, reconnecting after repeated failures.
// refused says which errors are answers rather than failures.
func (l *load) post(ctx context.Context, what string, do func(*client.Client) error, refused func(error) bool) error {
	deadline := time.Now().Add(retryGive)
	fails := 0
	for {
		c, err := l.client(ctx)
		if err == nil {
			err = do(c)
			if err == nil || (refused != nil && refused(err)) {
				return err
			}
			fails++
			if fails%3 == 0 {
				l.reset(c)
			}
		}
		if l.failedPosts.Add(1) <= 5 {
			l.failuresMu.Lock()
			l.failures = append(l.failures, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), what, err))
			l.failuresMu.Unlock()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still failing after %s: %w", what, retryGive, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(200+l.intn(300)) * time.Millisecond):
		}
	}
}

// newBooking makes the request of a kind.
func (l *load) newBooking(kind string, n int) *booking {
	users := []string{"alice", "bob", demo.UserCarol}
	r := client.BookRequest{UserID: users[l.intn(len(users))], ShowID: "show-1", Seats: 1 + l.intn(3), PaymentToken: demo.TokenOK}
	switch kind {
	case kindBlocked:
		r.UserID = "mallory"
	case kindSmall:
		r.ShowID, r.Seats = "show-small", 1+l.intn(2)
	case kindDeclined:
		r.PaymentToken = demo.TokenDeclined
	case kindTimeout:
		r.PaymentToken = demo.TokenTimeout
	case kindRefundFails:
		r.ShowID, r.PaymentToken = "show-cancelled", demo.TokenRefundFails
	case kindCancelledShow:
		r.ShowID = "show-cancelled"
	}
	r.IdempotencyKey = fmt.Sprintf("chaos-%05d-%s", n, kind)
	id := events.SagaIDFor(r.IdempotencyKey)
	return &booking{Key: r.IdempotencyKey, Kind: kind, Req: r, SagaID: id, Ref: events.BookingRefFor(id)}
}

// book posts b's request; first marks the request that makes b known.
func (l *load) book(ctx context.Context, b *booking, first bool) error {
	var rec client.Receipt
	err := l.post(ctx, "book "+b.Key, func(c *client.Client) error {
		var err error
		rec, err = c.Book(ctx, b.Req)
		return err
	}, nil)
	if err != nil {
		return err
	}
	l.posts.Add(1)
	if rec.SagaID != b.SagaID || rec.BookingRef != b.Ref {
		return fmt.Errorf("post of %s got saga %s ref %s, want saga %s ref %s (derived from the key)",
			b.Key, rec.SagaID, rec.BookingRef, b.SagaID, b.Ref)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if first {
		b.Posted = time.Now()
		l.bookings = append(l.bookings, b)
	} else {
		l.duplicates.Add(1)
	}
	return nil
}

// pick returns a random earlier booking (of kind, when not empty) posted
// at least age ago, or nil.
func (l *load) pick(kind string, age time.Duration) *booking {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cands []*booking
	for _, b := range l.bookings {
		if (kind == "" || b.Kind == kind) && time.Since(b.Posted) >= age {
			cands = append(cands, b)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	l.rngMu.Lock()
	defer l.rngMu.Unlock()
	return cands[l.rng.IntN(len(cands))]
}

// cancel posts the cancellation of a valid booking, when it is completed.
func (l *load) cancel(ctx context.Context) error {
	b := l.pick(kindValid, 5*time.Second)
	if b == nil {
		return nil
	}
	err := l.post(ctx, "cancel "+b.Ref, func(c *client.Client) error {
		_, err := c.Cancel(ctx, b.Ref, "")
		return err
	}, func(err error) bool { return errors.Is(err, client.ErrInvalid) })
	switch {
	case errors.Is(err, client.ErrInvalid):
		l.cancelRefuse.Add(1)
		return nil
	case err != nil:
		return err
	}
	l.posts.Add(1)
	l.cancelPosts.Add(1)
	l.mu.Lock()
	l.cancelled[b.Ref] = true
	l.mu.Unlock()
	return nil
}

// run posts requests at rate per second until want distinct bookings are
// posted or ctx ends; half is closed once half of them are posted.
func (l *load) run(ctx context.Context, want int, rate float64, half chan<- struct{}) error {
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	n, halfDone := 0, false
	for n < want {
		select {
		case <-ctx.Done():
			return nil
		case err := <-l.errs:
			return err
		case <-tick.C:
		}
		w := l.intn(total)
		op := ""
		for _, m := range mix {
			if w < m.weight {
				op = m.op
				break
			}
			w -= m.weight
		}
		switch op {
		case "duplicate":
			l.duplicate(ctx)
		case "cancel":
			l.async(ctx, l.cancel)
		default:
			n++
			b := l.newBooking(op, n)
			if l.intn(20) == 0 { // a double click: the same request twice more, at the same time
				for range 2 {
					l.async(ctx, func(ctx context.Context) error { return l.book(ctx, b, false) })
				}
			}
			if err := l.book(ctx, b, true); err != nil {
				return err
			}
		}
		if !halfDone && n >= want/2 {
			halfDone = true
			close(half)
		}
	}
	l.wg.Wait()
	select {
	case err := <-l.errs:
		return err
	default:
		return nil
	}
}

// duplicate posts an earlier request again with its idempotency key: a
// recent one (often still running) or any.
func (l *load) duplicate(ctx context.Context) {
	age := time.Duration(0)
	if l.intn(2) == 0 {
		age = 3 * time.Second
	}
	b := l.pick("", age)
	if b == nil {
		return
	}
	l.async(ctx, func(ctx context.Context) error { return l.book(ctx, b, false) })
}

// async runs fn in the background; an error ends the load.
func (l *load) async(ctx context.Context, fn func(context.Context) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			select {
			case l.errs <- err:
			default:
			}
		}
	}()
}

// snapshot returns the bookings and cancelled refs posted.
func (l *load) snapshot() ([]*booking, map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := map[string]bool{}
	for k, v := range l.cancelled {
		c[k] = v
	}
	return append([]*booking(nil), l.bookings...), c
}
