// Package conformance is the conformance kit: it drives a running
// participant over Kafka through a scripted conversation, as the
// orchestrator would (signing as the orchestrator, reading the replies,
// the service's own log and the dead letters), and reports which rules of
// docs/protocol.md it keeps. All Kafka I/O goes through package bus.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// Config says which participant to check and how patiently.
type Config struct {
	// Bus is the connection, signing as the orchestrator and trusting the
	// keyring (so the replies' signatures are checked).
	Bus    bus.Config
	Script Script
	// Timeout bounds each wait for a reply or a dead letter (default 10s).
	Timeout time.Duration
	// Concurrency is how many sagas the concurrency rule runs at once
	// (default 8).
	Concurrency int
	// Run names this run: its sagas' ids derive from it (default random).
	Run string
}

// Actor is the identity the kit's commands act for.
const Actor = "conformance-kit"

// unknownType is a command type no service handles.
const unknownType = "ConformanceKitUnknownCommand"

// kit is one run of the kit.
type kit struct {
	cfg Config
	pub *bus.BatchPublisher
	// unsigned publishes without a signature; nil with signatures off.
	unsigned *bus.BatchPublisher
	w        *watch
	n        atomic.Int64
}

// Check runs every rule against the participant and reports them; the
// error says the kit could not run at all (no broker, no topics).
func Check(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Run == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Run = hex.EncodeToString(b[:])
	}
	if len(cfg.Script.Steps) == 0 {
		return Report{}, fmt.Errorf("service %q has no commands to check", cfg.Script.Service)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := startWatch(ctx, cfg.Bus, cfg.Script.Service)
	if err != nil {
		return Report{}, err
	}
	defer w.close()
	pub, err := bus.NewBatchPublisher(cfg.Bus)
	if err != nil {
		return Report{}, err
	}
	defer func() { _ = pub.Close() }()
	k := &kit{cfg: cfg, pub: pub, w: w}
	if cfg.Bus.Trust != nil {
		plain := cfg.Bus
		plain.Signer = nil
		if k.unsigned, err = bus.NewBatchPublisher(plain); err != nil {
			return Report{}, err
		}
		defer func() { _ = k.unsigned.Close() }()
	}
	rep := Report{Service: cfg.Script.Service}
	rules := []func(context.Context) []Result{k.commands, k.repeat, k.compensateFirst,
		k.deadLetter(unknownTypeLetter), k.deadLetter(malformedLetter), k.deadLetter(unsignedLetter), k.concurrent}
	for _, rule := range rules {
		rep.Results = append(rep.Results, rule(ctx)...)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	return rep, nil
}

// conversation is one saga the kit plays.
type conversation struct {
	id, ref string
	data    map[string]any
	// undo is what to compensate at the end, last first.
	undo []undo
}

type undo struct {
	service string
	step    Step
}

func (k *kit) newConversation() *conversation {
	n := int(k.n.Add(1))
	id := events.SagaIDFor("conformance:" + k.cfg.Run + ":" + strconv.Itoa(n))
	ref := events.BookingRefFor(id)
	return &conversation{id: id, ref: ref, data: k.cfg.Script.Data(n, id, ref)}
}

// command builds attempt of step's command (or compensation) as the
// orchestrator does (saga.Machine's commandFor).
func (k *kit) command(c *conversation, st Step, comp bool, attempt int) events.Envelope {
	typ, secrets := st.Command, st.Secrets
	if comp {
		typ, secrets = st.Compensation, nil
	}
	raw, _ := json.Marshal(c.data)
	p := events.CommandV1{Step: string(st.Command), Attempt: attempt, Compensation: comp, Data: events.WithoutSecrets(raw, secrets...)}
	return events.MustNew(events.CommandID(c.id, string(st.Command), comp, attempt), typ, p,
		events.Trace{SagaID: c.id, CorrelationID: c.ref, Actor: Actor}, keyOf(c, st), time.Now())
}

func keyOf(c *conversation, st Step) string {
	if v, ok := c.data[st.KeyField].(string); ok && v != "" {
		return v
	}
	return c.id
}

func (k *kit) send(service string, envs ...events.Envelope) error {
	return k.publish(k.pub, service, envs...)
}

func (k *kit) sendUnsigned(service string, envs ...events.Envelope) error {
	return k.publish(k.unsigned, service, envs...)
}

func (k *kit) publish(pub *bus.BatchPublisher, service string, envs ...events.Envelope) error {
	for _, e := range envs {
		if err := pub.Publish(k.cfg.Bus.Topic(events.CommandTopic(service)), bus.ToMessage(e)); err != nil {
			return fmt.Errorf("send %s: %w", e.Type, err)
		}
	}
	return nil
}

// await waits for n replies to cmd, checks each as the orchestrator
// would, and returns them once the kit has read the service's log up to
// them (so their effects are counted).
func (k *kit) await(ctx context.Context, service string, cmd events.Envelope, n int) ([]reply, error) {
	ok, err := k.w.until(ctx, k.cfg.Timeout, func() bool { return len(k.w.replies[cmd.ID]) >= n })
	if err != nil {
		return nil, err
	}
	got := k.w.repliesTo(cmd.ID)
	if !ok {
		return got, fmt.Errorf("%d replies to %s within %s, want %d", len(got), cmd.Type, k.cfg.Timeout, n)
	}
	for _, r := range got {
		if err := k.checkReply(service, cmd, r); err != nil {
			return got, err
		}
	}
	return got, k.w.caughtUp(ctx, k.cfg.Timeout)
}

// checkReply applies the orchestrator's rules to a reply: signed by the
// service the command went to, keyed and headed by the saga, naming the
// command it answers.
func (k *kit) checkReply(service string, cmd events.Envelope, r reply) error {
	switch {
	case r.err != nil:
		return fmt.Errorf("reply to %s: %w", cmd.Type, r.err)
	case k.cfg.Bus.Trust != nil && r.signer != service:
		return fmt.Errorf("reply to %s signed by %q, not %s", cmd.Type, r.signer, service)
	case r.key != cmd.SagaID:
		return fmt.Errorf("reply to %s keyed %q, not by its saga id %s", cmd.Type, r.key, cmd.SagaID)
	case r.env.SagaID != cmd.SagaID:
		return fmt.Errorf("reply to %s has saga_id %q, not %s", cmd.Type, r.env.SagaID, cmd.SagaID)
	case r.p.Command != cmd.Type:
		return fmt.Errorf("reply to %s says command %q", cmd.Type, r.p.Command)
	}
	return nil
}

// call sends one command and waits for its one reply, whose data, when it
// succeeded, joins the saga data as the orchestrator merges it.
func (k *kit) call(ctx context.Context, c *conversation, service string, st Step, comp bool, attempt int) (events.Envelope, reply, error) {
	cmd := k.command(c, st, comp, attempt)
	if err := k.send(service, cmd); err != nil {
		return cmd, reply{}, err
	}
	got, err := k.await(ctx, service, cmd, 1)
	if err != nil {
		return cmd, reply{}, err
	}
	r := got[0]
	if r.p.Outcome == events.OutcomeSucceeded && len(r.p.Data) > 0 && string(r.p.Data) != "null" {
		var add map[string]any
		if err := json.Unmarshal(r.p.Data, &add); err != nil {
			return cmd, r, fmt.Errorf("reply data of %s: %w", cmd.Type, err)
		}
		maps.Copy(c.data, add)
	}
	return cmd, r, nil
}

// prepare runs the script's preparation for c.
func (k *kit) prepare(ctx context.Context, c *conversation) error {
	p := k.cfg.Script.Prepare
	if p == nil {
		return nil
	}
	_, r, err := k.call(ctx, c, p.Service, p.Step, false, 1)
	if err == nil && r.p.Outcome != events.OutcomeSucceeded {
		err = fmt.Errorf("%s %s: %s %s", p.Service, p.Step.Command, r.p.Outcome, r.p.Reason)
	}
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	c.undo = append(c.undo, undo{p.Service, p.Step})
	return nil
}

// cleanUp compensates what c did, last first, so that a run leaves no
// seat held and no card charged; its failures are the rules' to report.
func (k *kit) cleanUp(ctx context.Context, c *conversation) {
	for i := len(c.undo) - 1; i >= 0; i-- {
		u := c.undo[i]
		if u.step.Compensation != "" {
			_, _, _ = k.call(ctx, c, u.service, u.step, true, 100+i) // attempts of their own
		}
	}
	c.undo = nil
}

// effects reports a command's domain events as a rule wants them: at
// most one.
func (k *kit) effects(cmd events.Envelope) (int, error) {
	n := k.w.effectsOf(cmd.ID)
	if n > 1 {
		return n, fmt.Errorf("%d domain events for %s %s, want at most one", n, cmd.Type, cmd.ID)
	}
	return n, nil
}

var errOutcome = errors.New("unexpected outcome")

// want checks a reply's outcome.
func want(cmd events.Envelope, r reply, outcome string) error {
	if r.p.Outcome != outcome {
		return fmt.Errorf("%w: %s answered %s (%s), want %s", errOutcome, cmd.Type, r.p.Outcome, r.p.Reason, outcome)
	}
	return nil
}
