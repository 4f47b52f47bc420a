// Package system wires the whole product into one process: topics, the
// orchestrator and the four participant services, all talking through
// Kafka exactly as they do when each runs as a process of its own.
package system

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/participants/booking"
	"github.com/sagaflow/saga/participants/catalog"
	"github.com/sagaflow/saga/participants/notification"
	"github.com/sagaflow/saga/participants/participant"
	"github.com/sagaflow/saga/participants/payment"
	"github.com/sagaflow/saga/participants/service"
	"github.com/sagaflow/saga/participants/user"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/sign"
	"github.com/sagaflow/saga/tracing"
)

// TopicOptions are the settings of the topics an operator may change.
type TopicOptions struct {
	// DLQRetention is how long dead letters are kept; forever when zero
	// or negative, so that none is deleted before an operator has seen it.
	DLQRetention time.Duration
}

// Topics lists every topic of the product with the default options.
func Topics() []bus.TopicSpec { return TopicsWith(TopicOptions{}) }

// TopicsWith lists every topic of the product: the logs of record are
// kept forever, and so are the snapshots, whose superseded ones the
// orchestrator deletes itself (a time retention could delete a
// partition's only valid one); dead letters for o.DLQRetention.
func TopicsWith(o TopicOptions) []bus.TopicSpec {
	specs := []bus.TopicSpec{
		{Name: events.TopicRequests},
		{Name: events.TopicSagaLog},
		{Name: events.TopicReplies},
		{Name: events.TopicDLQ, Retention: o.DLQRetention},
		{Name: events.TopicSagaSnapshots},
		// One partition: the catalogue's order is the versions' order.
		{Name: events.TopicDefinitions, Partitions: 1},
	}
	for _, s := range events.Services() {
		specs = append(specs, bus.TopicSpec{Name: events.CommandTopic(s)}, bus.TopicSpec{Name: events.DomainTopic(s)})
	}
	return specs
}

// Provision creates the topics that are missing, with the default
// options, and checks that the topics read together are partitioned alike.
func Provision(ctx context.Context, cfg bus.Config) error {
	return ProvisionWith(ctx, cfg, TopicOptions{})
}

// ProvisionWith is Provision with the options o.
func ProvisionWith(ctx context.Context, cfg bus.Config, o TopicOptions) error {
	if err := bus.Provision(ctx, cfg, TopicsWith(o)); err != nil {
		return err
	}
	return checkCopartitioned(ctx, cfg)
}

// InsyncWarnings are the product's topics that ask for fewer in-sync
// replicas than they would be created with (bus.CheckMinInsync).
func InsyncWarnings(ctx context.Context, cfg bus.Config) ([]string, error) {
	var names []string
	for _, s := range Topics() {
		names = append(names, cfg.Topic(s.Name))
	}
	return bus.CheckMinInsync(ctx, cfg, names)
}

// checkCopartitioned refuses topics that were created by hand with
// different partition counts: a saga's request, replies, log and the
// snapshots of its log, and a service's commands and log, must land on the
// same partition number, or the process that owns a partition would not
// find the state it needs.
func checkCopartitioned(ctx context.Context, cfg bus.Config) error {
	groups := [][]string{{events.TopicRequests, events.TopicReplies, events.TopicSagaLog, events.TopicSagaSnapshots}}
	for _, s := range events.Services() {
		groups = append(groups, []string{events.CommandTopic(s), events.DomainTopic(s)})
	}
	var errs []error
	for _, g := range groups {
		counts := make([]int32, len(g))
		for i, t := range g {
			n, err := bus.PartitionCount(ctx, cfg, cfg.Topic(t))
			if err != nil {
				return err
			}
			counts[i] = n
		}
		for i := range counts {
			if counts[i] != counts[0] {
				errs = append(errs, fmt.Errorf("topics %v must have the same number of partitions, have %v", g, counts))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Partitioner is the partitioner the deployment's logs were written with:
// Murmur2 (Kafka's default) for a new one, FNV1a for logs written before
// saga used Murmur2 (see bus.DetectPartitioner). Every part of a process
// uses it, so a running saga, and a show's seats, stay where they are
// across an upgrade.
func Partitioner(ctx context.Context, cfg bus.Config) (bus.Partitioner, error) {
	topics := []string{cfg.Topic(events.TopicSagaLog)}
	for _, s := range events.Services() {
		topics = append(topics, cfg.Topic(events.DomainTopic(s)))
	}
	rule, err := bus.DetectPartitioner(ctx, cfg, topics...)
	if err != nil {
		return "", fmt.Errorf("find the logs' partitioner: %w", err)
	}
	return rule, nil
}

// Part is one component that runs until its context ends.
type Part struct {
	Name string
	Run  func(ctx context.Context) error
}

// Config says what to run and how.
type Config struct {
	Bus bus.Config
	Log zerolog.Logger
	// Timings of the saga definitions; the defaults when zero.
	Timings flows.Timings
	// SLOs are the watchdog's durations an operator set, by definition
	// ("book-ticket") or step ("book-ticket.ChargePayment"); the others
	// are derived from the timings (saga.Definition.SagaSLO, StepSLO).
	SLOs map[string]time.Duration
	// Parts to run, by name; all of them when empty.
	Parts []string
	// Decorate, when set, wraps every part's publisher (for tests).
	Decorate message.PublisherDecorator
	// SeedShows publishes the shows of the catalogue as add-show sagas and
	// its users as import-user sagas at start (each at most once, whatever
	// the number of starts), so the booking and user logs hold them.
	SeedShows bool
	// World is what the services are given of the outside world; the
	// demo's when zero.
	World World
	// ReadModel is the SQLite file the projections part keeps up to date;
	// without it that part does not run.
	ReadModel string
	// Keys are the signing keys of the parts, by principal; each part
	// signs what it writes with its own. Bus.Trust checks what they read.
	Keys map[string]*sign.Key
	// PartBus, when set, is the connection each part runs with, given
	// its name and Bus: a part may be its own SASL user, allowed only
	// what it needs. Provisioning and seeding keep Bus.
	PartBus func(part string, cfg bus.Config) bus.Config
	// Tracer, when set, exports the spans of every part; off when nil.
	Tracer *tracing.Tracer
	// SnapshotEvents is how many saga log events the orchestrator folds
	// between snapshots of a partition; its default when zero.
	SnapshotEvents int
	// Topics are the settings of the topics created at start.
	Topics TopicOptions
	// CompensationHorizon is how long the orchestrator retries a
	// compensation that gets no reply (orchestrator.Config).
	CompensationHorizon time.Duration
	// OneRoundReplies has the services write their domain events and
	// replies in one round (participant.Config.OneRound).
	OneRoundReplies bool
}

// busFor is the connection of one part.
func (c Config) busFor(part string) bus.Config {
	if c.PartBus == nil {
		return c.Bus
	}
	return c.PartBus(part, c.Bus)
}

// as is the bus configuration of the part that is principal: its
// connection, signing with its key. A system that checks signatures needs
// a key for every part.
func (c Config) as(principal string) (bus.Config, error) { return c.partAs(principal, principal) }

// partAs is the bus configuration of part, which signs and checks records
// with principal's key (the read models check as the client).
func (c Config) partAs(part, principal string) (bus.Config, error) {
	cfg := c.busFor(part)
	if c.Keys == nil && cfg.Trust == nil {
		return cfg, nil
	}
	k := c.Keys[principal]
	if k == nil {
		return cfg, fmt.Errorf("no signing key for %s: each part signs what it writes and checks what it reads", principal)
	}
	if k.Principal != principal {
		return cfg, fmt.Errorf("the key given to %s is %s's", principal, k.Principal)
	}
	cfg.Signer = k
	return cfg, nil
}

// World is what the services are given of the outside world: the users
// and shows they start with, the payment processor and the phone network.
// The demo's (package demo) is the only one there is so far; this is the
// one place that wires it in.
type World struct {
	Catalog   catalog.Catalog
	Processor payment.Processor
	Phones    notification.Phones
}

func (c Config) world() World {
	if c.World == (World{}) {
		return World{Catalog: demo.Catalog(), Processor: demo.Processor{}, Phones: demo.Phones{}}
	}
	return c.World
}

// Parts returns the orchestrator and the participants, each ready to run.
func Parts(c Config) ([]Part, error) {
	log, w := c.Log, c.world()
	t := c.Timings
	if t == (flows.Timings{}) {
		t = flows.DefaultTimings()
	}
	defs, err := flows.AllWith(t)
	if err != nil {
		return nil, err
	}
	if defs, err = defs.WithSLOs(c.SLOs); err != nil {
		return nil, err
	}
	cfg, err := c.as(events.PrincipalOrchestrator)
	if err != nil {
		return nil, err
	}
	orch, err := orchestrator.New(orchestrator.Config{Bus: cfg, Log: log, Definitions: defs, Decorate: c.Decorate,
		Tracer: c.Tracer.Part("orchestrator"), SnapshotEvents: c.SnapshotEvents,
		CompensationHorizon: c.CompensationHorizon})
	if err != nil {
		return nil, err
	}
	parts := []Part{{Name: "orchestrator", Run: orch.Run}}
	buses := map[string]bus.Config{}
	for _, name := range events.BuiltinServices() {
		if buses[name], err = c.as(name); err != nil {
			return nil, err
		}
	}
	booker, payer := buses[events.ServiceBooking], buses[events.ServicePayment]
	var bookingOpts []booking.Option
	if sign := signReservations(booker.Signer, booker.Trust); sign != nil {
		bookingOpts = append(bookingOpts, booking.SignReservations(sign))
	}
	var paymentOpts []payment.Option
	if check := checkReservations(payer.Signer, payer.Trust, time.Now); check != nil {
		paymentOpts = append(paymentOpts, payment.CheckReservations(check))
	}
	services := []func() service.Service{
		func() service.Service { return user.New(w.Catalog) },
		func() service.Service { return booking.New(w.Catalog, bookingOpts...) },
		func() service.Service { return payment.New(w.Processor, paymentOpts...) },
		func() service.Service { return notification.New(w.Phones) },
	}
	for _, newService := range services {
		rt, err := participant.New(participant.Config{Bus: buses[newService().Name()], Log: log, New: newService, Decorate: c.Decorate,
			Tracer: c.Tracer.Part(newService().Name()), OneRound: c.OneRoundReplies})
		if err != nil {
			return nil, err
		}
		parts = append(parts, Part{Name: rt.Name(), Run: rt.Run})
	}
	if c.ReadModel != "" {
		parts = append(parts, Part{Name: "projections", Run: func(ctx context.Context) error {
			return runProjections(ctx, c)
		}})
	}
	return parts, nil
}

// StartupWait bounds how long a part starting waits for a broker that does
// not answer (one restarting, say) before it gives up.
const StartupWait = time.Minute

// Run provisions the topics and runs the configured parts until ctx ends
// or one of them fails. Unless c.Bus names a partitioner, the parts use
// the one the logs were written with (see Partitioner).
func Run(ctx context.Context, c Config) error {
	// A part started while the broker restarts waits for it.
	retry := func(what string) func(error) {
		return func(err error) { c.Log.Warn().Err(err).Msg(what + ": the broker is not answering; trying again") }
	}
	if err := bus.RetryTransient(ctx, StartupWait, retry("provision the topics"), func(ctx context.Context) error {
		return ProvisionWith(ctx, c.Bus, c.Topics)
	}); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	c.warnInsync(ctx)
	defer bus.WatchTopicSize(c.Bus, c.Bus.Topic(events.TopicDLQ))()
	if c.Bus.Partitioner == "" {
		var rule bus.Partitioner
		err := bus.RetryTransient(ctx, StartupWait, retry("read the logs' partitioner"), func(ctx context.Context) (err error) {
			rule, err = Partitioner(ctx, c.Bus)
			return err
		})
		if err != nil {
			return err
		}
		if rule != bus.Murmur2 {
			c.Log.Warn().Str("partitioner", string(rule)).Msg("the logs were written with sarama's FNV-1a partitioner; this deployment keeps it, and records any client places by another partitioner are forwarded to their partition")
		}
		c.Bus.Partitioner = rule
	}
	if c.SeedShows {
		cfg, err := c.as(events.PrincipalClient)
		if err != nil {
			return err
		}
		if err := seedCatalog(ctx, cfg, c.world().Catalog); err != nil {
			return err
		}
	}
	parts, err := Parts(c)
	if err != nil {
		return err
	}
	if len(c.Parts) > 0 {
		parts, err = pick(parts, c.Parts)
		if err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(parts))
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", p.Name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func pick(parts []Part, names []string) ([]Part, error) {
	var out []Part
	for _, n := range names {
		found := false
		for _, p := range parts {
			if p.Name == n {
				out, found = append(out, p), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown part %q (want orchestrator, user, booking, payment, notification or projections)", n)
		}
	}
	return out, nil
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

func seedCatalog(ctx context.Context, cfg bus.Config, cat catalog.Catalog) error {
	c, err := client.New(ctx, cfg, client.WithCatalog(cat))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SeedShows(ctx, cat); err != nil {
		return err
	}
	return c.SeedUsers(ctx, cat)
}

// runProjections keeps the read models up to date with the logs; their
// offsets live in the same database, so the part needs no consumer group.
func runProjections(ctx context.Context, c Config) error {
	db, err := readmodel.Open(ctx, c.ReadModel, readmodel.WithCatalog(c.world().Catalog))
	if err != nil {
		return err
	}
	defer db.Close()
	log := c.Log.With().Str("service", "projections").Logger()
	log.Info().Str("db", c.ReadModel).Strs("projections", readmodel.Names()).Msg("projecting the logs into read models")
	// The read models check what they fold as the client, whose key the
	// records of their logs are signed for.
	cfg, err := c.partAs("projections", events.PrincipalClient)
	if err != nil {
		return err
	}
	return readmodel.RunWith(ctx, cfg, db, readmodel.RunOptions{OnError: func(name string, err error) {
		log.Warn().Err(err).Str("projection", name).Msg("projection stopped; will retry")
	}})
}

// warnInsync logs the topics that acknowledge writes held by fewer
// replicas than they would be created with: the operator decides.
func (c Config) warnInsync(ctx context.Context) {
	warnings, err := InsyncWarnings(ctx, c.Bus)
	if err != nil {
		c.Log.Warn().Err(err).Msg("could not check the topics' min.insync.replicas")
	}
	for _, w := range warnings {
		c.Log.Warn().Msg(w)
	}
}
