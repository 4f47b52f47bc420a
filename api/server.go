// Package api is the HTTP front door of the product: routes, identity
// (bearer JWTs and roles), problem+json errors, the OpenAPI document and
// Server-Sent Events. It posts requests to Kafka and answers from the
// read models; it never folds a log to answer a request.
package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/api/webhook"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/participants/catalog"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/tracing"
)

// Defaults of Config.
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultMaxWait        = 60 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	DefaultRateLimit      = 50
	DefaultBurst          = 100
	// DefaultSignupRate and DefaultSignupBurst bound anonymous sign-ups
	// per address: far below the general limit, since each one starts a
	// saga and writes a user to a log that is never compacted away.
	DefaultSignupRate  = 0.2
	DefaultSignupBurst = 5
	// MaxBodyBytes bounds a request body: larger ones are 413.
	MaxBodyBytes = 64 << 10
)

// Config is what a Server needs.
type Config struct {
	Bus       bus.Config
	ReadModel *readmodel.DB
	Verifier  *Verifier
	// Issuer, when set, is the embedded identity provider: its public keys
	// are served at /.well-known/jwks.json.
	Issuer *Issuer
	Log    zerolog.Logger
	// Tracer, when set, makes a span of each request, the root of the
	// trace of what it posts (see traced); tracing is off when nil.
	Tracer *tracing.Part
	// RateLimit is each identity's sustained requests per second (an
	// anonymous caller is identified by its address), Burst its bucket;
	// DefaultRateLimit and DefaultBurst when zero, no limit when negative.
	RateLimit float64
	Burst     int
	// SignupRate is each address's sustained anonymous sign-ups per
	// second (POST /v1/users without a token), SignupBurst its bucket,
	// kept apart from RateLimit so browsing does not use up sign-ups nor
	// sign-ups the browsing; DefaultSignupRate and DefaultSignupBurst when
	// zero, no limit when negative.
	SignupRate  float64
	SignupBurst int
	// MaxWait caps the wait a client asks for with Prefer: wait=N.
	MaxWait time.Duration
	// PublishTimeout bounds a post to Kafka: past it the answer is 503.
	PublishTimeout time.Duration
	// Webhooks holds the webhook subscriptions; without it the webhook
	// routes answer 404.
	Webhooks *webhook.Store
	// WebhookGuard decides which endpoint URLs may be subscribed.
	WebhookGuard webhook.Guard
	// Catalog is the users and shows the deployment starts with (see
	// client.WithCatalog); none when nil.
	Catalog catalog.Catalog
	// Definitions is the catalogue of saga definitions the API lists and
	// books on; one reading with Bus when nil.
	Definitions *catalogue.Cache
	// Operator is the connection definitions are published with: signed
	// as the operator, the only principal besides the orchestrator that
	// may write them. Bus when it names no brokers (an unsigned system).
	Operator bus.Config
	// Services are those a posted definition may name; the built-in ones
	// and those the process declares (--services) when nil.
	Services definition.Services
}

func (c *Config) setDefaults() {
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.SignupRate == 0 {
		c.SignupRate = DefaultSignupRate
	}
	if c.SignupBurst <= 0 {
		c.SignupBurst = DefaultSignupBurst
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if len(c.Operator.Brokers) == 0 {
		c.Operator = c.Bus
	}
	if c.Services == nil {
		c.Services = definition.KnownServices()
	}
}

// Validate reports every missing part at once.
func (c Config) Validate() error {
	var errs []error
	if c.ReadModel == nil {
		errs = append(errs, errors.New("api: a read model is required"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("api: a token verifier is required"))
	}
	errs = append(errs, c.Bus.Validate())
	return errors.Join(errs...)
}

// Server is the HTTP API. It is an http.Handler; more handlers (metrics,
// the back-office pages) can be mounted on it with Handle.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	mux     *http.ServeMux
	pub     message.Publisher
	client  *client.Client
	db      *readmodel.DB
	limiter *limiter
	// signups limits anonymous sign-ups per address.
	signups *limiter
	recent  *recentRequests
	// ends tells waiting requests their saga has ended; stop ends it.
	ends *endWatch
	stop context.CancelFunc
	now  func() time.Time
	// defs is the catalogue of definitions; services, those a posted one
	// may name.
	defs     *catalogue.Cache
	services definition.Services
}

// New connects to Kafka (it fails fast when no broker answers) and builds
// the routes.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := client.New(ctx, cfg.Bus, client.WithCatalog(cfg.Catalog), client.WithLog(cfg.Log))
	if err != nil {
		return nil, err
	}
	pub, err := bus.NewPublisher(cfg.Bus, watermill.NopLogger{})
	if err != nil {
		c.Close()
		return nil, err
	}
	// A broker restarting or a leader moving is retried within the
	// publish timeout; past it the answer is 503 and the client retries.
	retrying := cfg.Bus
	if b := retrying.RetryBound(); b > 0 {
		retrying.Retry = min(b, cfg.PublishTimeout)
	}
	pub = bus.RetryingPublisher(retrying, pub)
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), pub: pub, client: c, db: cfg.ReadModel,
		limiter: newLimiter(cfg.RateLimit, cfg.Burst), signups: newLimiter(cfg.SignupRate, cfg.SignupBurst), recent: newRecentRequests(recentCapacity), now: time.Now,
		ends: newEndWatch(cfg.ReadModel, cfg.Log), defs: cfg.Definitions, services: cfg.Services}
	if s.defs == nil {
		s.defs = catalogue.NewCache(cfg.Bus, func(r bus.Record, err error) {
			cfg.Log.Warn().Err(err).Int64("offset", r.Offset).Msg("skipped a definition record that does not check")
		})
	}
	// The watch lives as long as the server, not as long as ctx (which may
	// be only the connecting one).
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go s.ends.run(watchCtx)
	s.routes()
	return s, nil
}

// Close stops the watch of waiting requests and releases the Kafka
// connections.
func (s *Server) Close() error {
	s.stop()
	return errors.Join(s.pub.Close(), s.client.Close())
}

// Handle mounts h at pattern beside the API's routes (for /metrics or
// /ui/). The handler gets the request's verified identity through
// IdentityFrom when the request carried a valid token; it decides itself
// what an anonymous caller may see.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, p := s.authenticate(r)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		h.ServeHTTP(w, r.WithContext(withIdentity(r.Context(), id)))
	}))
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w, r, end := s.traced(w, r)
	defer end()
	s.mux.ServeHTTP(w, r)
}

// handlerFunc is a route's handler: it writes a success itself and
// returns any failure, which serve writes as problem+json.
type handlerFunc func(w http.ResponseWriter, r *http.Request, id Identity) error

// serve wraps a route: identity, role, rate limit, then the handler, and
// one place that writes every error.
func (s *Server) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error().Interface("panic", v).Str("stack", string(debug.Stack())).Str("path", r.URL.Path).Msg("api handler panicked")
				writeProblem(w, r, asProblem(fmt.Errorf("panic: %v", v)))
			}
		}()
		id, p := s.authenticate(r)
		if p == nil {
			p = authorize(rt, id)
		}
		if p == nil {
			p = s.limiter.allow(limitKey(r, id))
		}
		if p == nil {
			p = queryOnce(r)
		}
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		r = r.WithContext(withIdentity(r.Context(), id))
		if err := rt.h(w, r, id); err != nil {
			p := asProblem(err)
			if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
				s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("api request failed")
			}
			writeProblem(w, r, p)
		}
	})
}

// authorize checks the identity against the roles a route admits.
func authorize(rt route, id Identity) *Problem {
	if len(rt.roles) == 0 {
		return nil
	}
	if id.Anonymous() {
		return unauthorized("")
	}
	for _, role := range rt.roles {
		if id.Role == role {
			return nil
		}
	}
	return forbidden(fmt.Sprintf("%s %s needs the role %v", rt.method, rt.path, rt.roles))
}

// limitKey identifies the caller for the rate limit: the verified subject,
// or the address of an anonymous caller.
func limitKey(r *http.Request, id Identity) string {
	if !id.Anonymous() {
		return "sub:" + id.Issuer + ":" + id.Subject
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// Serve answers on addr until ctx ends, then lets the requests in flight
// finish (for a few seconds).
func Serve(ctx context.Context, addr string, h http.Handler, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	return ServeListener(ctx, ln, h, log)
}

// ServeListener is Serve on a listener the caller opened (tests pick a
// free port this way).
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, log zerolog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	log.Info().Str("addr", ln.Addr().String()).Msg("HTTP API listening")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// ctx has ended: the requests in flight get a grace period of their own.
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	return nil
}
