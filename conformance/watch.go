package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// reply is a reply the kit read: its envelope, payload, who signed it and
// the record key it was written with.
type reply struct {
	env    events.Envelope
	p      events.StepReplyV1
	signer string
	key    string
	// err is why the reply is unreadable or its signature does not check.
	err error
}

// watch follows the replies, the service's domain log and the dead
// letters from where they ended when the kit started, and indexes what
// it reads by command id, so the rules can wait for what they expect.
type watch struct {
	cfg    bus.Config
	log    *bus.Log
	topics []string

	mu       sync.Mutex
	changed  chan struct{}
	replies  map[string][]reply
	effects  map[string]int
	dead     map[string][]string // command id -> reasons
	pos      map[string]map[int32]int64
	followed error
}

// startWatch follows the topics until ctx ends.
func startWatch(ctx context.Context, cfg bus.Config, service string) (*watch, error) {
	l, err := bus.OpenLog(cfg, bus.LogOptions{})
	if err != nil {
		return nil, err
	}
	w := &watch{cfg: cfg, log: l, changed: make(chan struct{}),
		replies: map[string][]reply{}, effects: map[string]int{}, dead: map[string][]string{},
		pos: map[string]map[int32]int64{}}
	w.topics = []string{cfg.Topic(events.TopicReplies), cfg.Topic(events.DomainTopic(service)), cfg.Topic(events.TopicDLQ)}
	handlers := []func(bus.Record){w.onReply, w.onEffect, w.onDead}
	for i, topic := range w.topics {
		ends, err := w.ends(topic)
		if err != nil {
			_ = l.Close()
			return nil, err
		}
		w.pos[topic] = ends
		from := map[int32]int64{}
		for p, e := range ends {
			from[p] = e
		}
		handle := handlers[i]
		go func() {
			err := bus.FollowFrom(ctx, cfg, topic, from, func(r bus.Record) error {
				handle(r)
				w.mu.Lock()
				w.pos[r.Topic][r.Partition] = r.Offset + 1
				w.notify()
				w.mu.Unlock()
				return nil
			})
			w.mu.Lock()
			if err != nil && ctx.Err() == nil {
				w.followed = fmt.Errorf("follow %s: %w", topic, err)
			}
			w.notify()
			w.mu.Unlock()
		}()
	}
	return w, nil
}

func (w *watch) close() { _ = w.log.Close() }

// notify wakes every waiter; w.mu is held.
func (w *watch) notify() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *watch) ends(topic string) (map[int32]int64, error) {
	parts, err := w.log.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		if out[p], err = w.log.End(topic, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (w *watch) onReply(r bus.Record) {
	env, err := bus.CheckRecord(r)
	got := reply{env: env, key: string(r.Key)}
	if err == nil && env.Type == events.StepReply {
		got.p, err = events.Decode[events.StepReplyV1](env)
	}
	if err != nil || env.Type != events.StepReply {
		var p struct {
			CommandID string `json:"command_id"`
		}
		if json.Unmarshal(r.Value, &p) != nil || p.CommandID == "" {
			return // not a reply to anything the kit can name
		}
		got.p.CommandID, got.err = p.CommandID, fmt.Errorf("unreadable reply: %v", err)
	}
	if got.err == nil {
		got.signer, got.err = w.cfg.VerifyRecord(r, time.Now())
	}
	w.mu.Lock()
	w.replies[got.p.CommandID] = append(w.replies[got.p.CommandID], got)
	w.mu.Unlock()
}

// onEffect counts a domain event against the command it names
// (events.Handled's command_id, at the top of its payload).
func (w *watch) onEffect(r bus.Record) {
	var h struct {
		CommandID string `json:"command_id"`
	}
	if json.Unmarshal(r.Value, &h) != nil || h.CommandID == "" {
		return
	}
	w.mu.Lock()
	w.effects[h.CommandID]++
	w.mu.Unlock()
}

func (w *watch) onDead(r bus.Record) {
	id := r.Headers[bus.HeaderID]
	if id == "" {
		return
	}
	w.mu.Lock()
	w.dead[id] = append(w.dead[id], r.Headers[reasonHeader])
	w.mu.Unlock()
}

// reasonHeader is the header a dead letter says why in (watermill's
// poison queue middleware writes it).
const reasonHeader = "reason_poisoned"

// until waits until cond, called with w.mu held, holds, or timeout passes
// (false), or ctx ends.
func (w *watch) until(ctx context.Context, timeout time.Duration, cond func() bool) (bool, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		w.mu.Lock()
		ok, ch, err := cond(), w.changed, w.followed
		w.mu.Unlock()
		if ok || err != nil {
			return ok, err
		}
		select {
		case <-ch:
		case <-timer.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// caughtUp waits until the kit has read every topic it follows up to
// where they end now: whatever was written before the call is then
// indexed. A participant writes a command's domain event before its
// reply, so after a reply is seen caughtUp makes its effects visible.
func (w *watch) caughtUp(ctx context.Context, timeout time.Duration) error {
	want := map[string]map[int32]int64{}
	for _, t := range w.topics {
		ends, err := w.ends(t)
		if err != nil {
			return err
		}
		want[t] = ends
	}
	ok, err := w.until(ctx, timeout, func() bool {
		for t, ends := range want {
			for p, e := range ends {
				if w.pos[t][p] < e {
					return false
				}
			}
		}
		return true
	})
	if err == nil && !ok {
		err = fmt.Errorf("could not read %v up to their end within %s", w.topics, timeout)
	}
	return err
}

// repliesTo returns the replies read for a command id.
func (w *watch) repliesTo(id string) []reply {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]reply(nil), w.replies[id]...)
}

func (w *watch) effectsOf(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.effects[id]
}

func (w *watch) deadLetters(id string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.dead[id]...)
}
