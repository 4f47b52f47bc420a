package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/api/ui"
	"github.com/sagaflow/saga/api/webhook"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
	"github.com/sagaflow/saga/tracing"
)

// httpFlags configure the HTTP API that `saga up` serves.
type httpFlags struct {
	// tracer is not a flag: the tracer of the process, nil when off.
	tracer    *tracing.Tracer
	addr      string
	jwks      string
	issuer    string
	audience  string
	roleClaim string
	rate      float64
	burst     int
	signup    float64
	signBurst int
	allow     []string
	horizon   time.Duration
}

func (h *httpFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&h.addr, "http", api.DefaultAddr, `address of the HTTP API ("" turns it off)`)
	f.StringVar(&h.jwks, "jwks", "", "trust the tokens of an OIDC provider: its JWKS file or URL (default: the data directory's own signing key)")
	f.StringVar(&h.issuer, "issuer", "", "with --jwks: the iss of the provider's tokens")
	f.StringVar(&h.audience, "audience", "", "with --jwks: the aud of the provider's tokens")
	f.StringVar(&h.roleClaim, "role-claim", api.DefaultRoleClaim, "claim of a token that holds its role (customer or backoffice)")
	f.Float64Var(&h.rate, "rate-limit", api.DefaultRateLimit, "requests per second each identity may make to the API (negative: no limit)")
	f.IntVar(&h.burst, "rate-burst", api.DefaultBurst, "requests an identity may make at once above --rate-limit")
	f.Float64Var(&h.signup, "signup-rate", api.DefaultSignupRate, "anonymous sign-ups per second each address may make (negative: no limit)")
	f.IntVar(&h.signBurst, "signup-burst", api.DefaultSignupBurst, "anonymous sign-ups an address may make at once above --signup-rate")
	f.StringSliceVar(&h.allow, "webhook-allow", nil, "hosts webhooks may call besides loopback, comma separated (.example.com for a domain); metadata and link-local addresses never")
	f.DurationVar(&h.horizon, "webhook-horizon", webhook.DefaultHorizon, "how long a failing webhook delivery is retried before it is parked")
}

func (h httpFlags) validate() error {
	if h.addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(h.addr); err != nil {
		return usagef("--http must be HOST:PORT, got %q", h.addr)
	}
	if h.jwks == "" && (h.issuer != "" || h.audience != "") {
		return usagef("--issuer and --audience go with --jwks")
	}
	if h.jwks != "" && (h.issuer == "" || h.audience == "") {
		return usagef("--jwks needs --issuer and --audience")
	}
	if h.horizon <= 0 {
		return usagef("--webhook-horizon must be positive, got %s", h.horizon)
	}
	return nil
}

// startAPI builds the API on the data directory's read model and issuer;
// serve runs it until ctx ends. Nothing is served when --http is "".
func startAPI(ctx context.Context, g *globals, h httpFlags, cfg, operator bus.Config, log zerolog.Logger) (serve func() error, err error) {
	if h.addr == "" {
		return nil, nil
	}
	vc := api.VerifierConfig{JWKS: h.jwks, IssuerName: h.issuer, Audience: h.audience, RoleClaim: h.roleClaim}
	var issuer *api.Issuer
	if h.jwks == "" {
		if issuer, err = api.LoadIssuer(g.dataDir); err != nil {
			return nil, err
		}
		vc.Issuer = issuer
	}
	v, err := api.NewVerifier(ctx, vc)
	if err != nil {
		return nil, err
	}
	db, err := readmodel.Open(ctx, g.readModelPath(), readmodel.WithCatalog(demo.Catalog()))
	if err != nil {
		return nil, err
	}
	hooks, err := webhook.Open(filepath.Join(g.dataDir, webhook.FileName))
	if err != nil {
		db.Close()
		return nil, err
	}
	closeAll := func() { hooks.Close(); db.Close() }
	guard := webhook.Guard{Allow: h.allow}
	sender, err := webhook.NewSender(webhook.Config{Bus: cfg, Store: hooks, Log: log.With().Str("service", "webhooks").Logger(),
		Horizon: h.horizon, Guard: guard})
	if err != nil {
		closeAll()
		return nil, err
	}
	// One catalogue of definitions for the API and the back office.
	defs := catalogue.NewCache(cfg, func(r bus.Record, err error) {
		log.Warn().Err(err).Int64("offset", r.Offset).Msg("skipped a definition record that does not check")
	})
	srv, err := api.New(ctx, api.Config{Bus: cfg, Operator: operator, Definitions: defs, ReadModel: db, Verifier: v, Issuer: issuer, Log: log,
		RateLimit: h.rate, Burst: h.burst, SignupRate: h.signup, SignupBurst: h.signBurst, Webhooks: hooks, WebhookGuard: guard, Catalog: demo.Catalog(),
		Tracer: h.tracer.Part("api")})
	if err != nil {
		closeAll()
		return nil, err
	}
	// The back office at /ui/ of the same listener.
	if _, err := ui.Mount(srv, ui.Config{API: srv, Verifier: v, ReadModel: db, Namespace: cfg.Namespace, Bus: cfg,
		Definitions: flows.All(), Catalogue: defs, Log: log.With().Str("service", "ui").Logger()}); err != nil {
		srv.Close()
		closeAll()
		return nil, err
	}
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		srv.Close()
		closeAll()
		return nil, fmt.Errorf("--http %s: %w", h.addr, err)
	}
	return func() error {
		defer closeAll()
		defer srv.Close()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sent := make(chan error, 1)
		go func() {
			err := sender.Run(ctx)
			cancel()
			sent <- err
		}()
		err := api.ServeListener(ctx, ln, srv, log)
		cancel()
		return errors.Join(err, <-sent)
	}, nil
}

// runWithAPI runs the system and, beside it, the HTTP API once the topics
// exist; either stopping stops both.
func runWithAPI(ctx context.Context, g *globals, h httpFlags, cfg bus.Config, log zerolog.Logger, run func(context.Context) error) error {
	if h.addr == "" {
		return run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sysErr := make(chan error, 1)
	go func() {
		sysErr <- run(ctx)
		cancel()
	}()
	// The API posts to topics the system provisions first.
	if err := system.Provision(ctx, cfg); err != nil {
		cancel()
		return errors.Join(ctxErr(ctx, err), <-sysErr)
	}
	// Definitions posted to the API are published as the operator, with
	// its key and broker user.
	keys, ring, err := g.signing()
	if err != nil {
		cancel()
		<-sysErr
		return err
	}
	operator := withKeys(g.partBus(events.PrincipalOperator, cfg), keys, ring, events.PrincipalOperator)
	serve, err := startAPI(ctx, g, h, g.partBus("api", cfg), operator, log)
	if err != nil {
		cancel()
		<-sysErr
		return err
	}
	apiErr := ctxErr(ctx, serve())
	cancel()
	return errors.Join(<-sysErr, apiErr)
}

// apiPart takes the "api" part out of a --parts list: the HTTP API runs
// when no parts are named or when "api" is one of them.
func apiPart(parts []string, addr string) ([]string, string) {
	if len(parts) == 0 {
		return parts, addr
	}
	rest := make([]string, 0, len(parts))
	listed := false
	for _, p := range parts {
		if p == "api" {
			listed = true
			continue
		}
		rest = append(rest, p)
	}
	if !listed {
		addr = ""
	}
	return rest, addr
}
