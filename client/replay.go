package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// LogEntry is one record of a log, as `saga replay` prints it. Old schema
// versions are upcast: Version and Payload are the current ones.
type LogEntry struct {
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Key           string          `json:"key"`
	ID            string          `json:"id"`
	Type          events.Type     `json:"type"`
	Version       int             `json:"version"`
	SagaID        string          `json:"saga_id,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Actor         string          `json:"actor,omitempty"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Payload       json.RawMessage `json:"payload"`
}

// ReplayFilter narrows a replay. A record is printed when it matches every
// field that is set.
type ReplayFilter struct {
	// SagaID keeps the records of one saga.
	SagaID string
	// BookingRef keeps the records of one booking (the correlation id):
	// the booking, its cancellation, and every service's records of them.
	BookingRef string
	// Types keeps the records of these message types.
	Types []events.Type
	// Since keeps the records that occurred at or after it; Until those
	// that occurred before it. Zero means no bound.
	Since, Until time.Time
	// Topics to read; the saga log and every domain log when empty.
	Topics []string
	// FromOffsets starts partitions at an offset (partition -> offset) in
	// every topic read; partitions not named start at their oldest record.
	FromOffsets map[int32]int64
	// TopicOffsets starts the partitions of one topic at an offset (topic
	// -> partition -> offset); for the partitions it names it wins over
	// FromOffsets.
	TopicOffsets map[string]map[int32]int64
	// Follow keeps reading: records are delivered as they arrive, in log
	// order within each partition, until the context ends.
	Follow bool
}

// LogTopics are the logs of record replay reads by default: the saga log
// and each built-in service's log. A declared service's log holds event
// types of its own, which this build cannot check; it is read when named.
func LogTopics() []string {
	out := []string{events.TopicSagaLog}
	for _, s := range events.BuiltinServices() {
		out = append(out, events.DomainTopic(s))
	}
	return out
}

// ReplayTopics are the topics Replay can read: the logs of record, and the
// requests, replies, commands and dead letters.
func ReplayTopics() []string {
	out := []string{events.TopicRequests, events.TopicSagaLog, events.TopicReplies, events.TopicDLQ}
	for _, s := range events.Services() {
		out = append(out, events.CommandTopic(s), events.DomainTopic(s))
	}
	return out
}

// Validate reports every problem of the filter at once, before anything is
// read: an unknown topic or type, a negative partition or offset, offsets
// for a topic that is not read, Since not before Until, Until with Follow.
func (f ReplayFilter) Validate() error {
	var errs []error
	known := ReplayTopics()
	for _, t := range f.Topics {
		if !slices.Contains(known, t) {
			errs = append(errs, fmt.Errorf("unknown topic %q (topics: %s)", t, strings.Join(known, ", ")))
		}
	}
	for _, typ := range f.Types {
		if !events.Known(typ) {
			errs = append(errs, fmt.Errorf("unknown type %q", typ))
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs = append(errs, fmt.Errorf("since (%s) must be before until (%s)",
			f.Since.UTC().Format(time.RFC3339Nano), f.Until.UTC().Format(time.RFC3339Nano)))
	}
	if f.Follow && !f.Until.IsZero() {
		errs = append(errs, errors.New("until cannot be combined with follow, which never ends"))
	}
	errs = append(errs, checkOffsets("", f.FromOffsets))
	read := f.topics()
	for _, t := range sortedKeys(f.TopicOffsets) {
		switch {
		case !slices.Contains(known, t):
			errs = append(errs, fmt.Errorf("offsets for unknown topic %q (topics: %s)", t, strings.Join(known, ", ")))
		case !slices.Contains(read, t):
			errs = append(errs, fmt.Errorf("offsets for topic %s, which is not read (reading %s)", t, strings.Join(read, ", ")))
		}
		errs = append(errs, checkOffsets(t+":", f.TopicOffsets[t]))
	}
	return invalid(errs...)
}

// invalidFilter is the error of a filter that cannot be replayed: it
// reads as its problems alone, and errors.Is(err, ErrInvalid) holds.
type invalidFilter struct{ error }

func (invalidFilter) Is(target error) bool { return target == ErrInvalid }
func (e invalidFilter) Unwrap() error      { return e.error }

func invalid(errs ...error) error {
	if err := errors.Join(errs...); err != nil {
		return invalidFilter{err}
	}
	return nil
}

func checkOffsets(prefix string, offsets map[int32]int64) error {
	var errs []error
	for _, p := range sortedKeys(offsets) {
		if p < 0 {
			errs = append(errs, fmt.Errorf("partition %s%d must not be negative", prefix, p))
		}
		if o := offsets[p]; o < 0 {
			errs = append(errs, fmt.Errorf("offset %d of partition %s%d must not be negative", o, prefix, p))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[K int32 | string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (f ReplayFilter) topics() []string {
	if len(f.Topics) == 0 {
		return LogTopics()
	}
	return f.Topics
}

// offsetsFor returns where each named partition of topic starts, or nil
// when every partition starts at its oldest record.
func (f ReplayFilter) offsetsFor(topic string) map[int32]int64 {
	if len(f.FromOffsets) == 0 && len(f.TopicOffsets[topic]) == 0 {
		return nil
	}
	out := map[int32]int64{}
	for p, o := range f.FromOffsets {
		out[p] = o
	}
	for p, o := range f.TopicOffsets[topic] {
		out[p] = o
	}
	return out
}

// Match reports whether a checked envelope passes the filter's record
// criteria (saga, booking, type, time); topics and offsets say where to
// read, not what to keep.
func (f ReplayFilter) Match(e events.Envelope) bool {
	switch {
	case f.SagaID != "" && e.SagaID != f.SagaID:
		return false
	case f.BookingRef != "" && e.CorrelationID != f.BookingRef:
		return false
	case len(f.Types) > 0 && !slices.Contains(f.Types, e.Type):
		return false
	case !f.Since.IsZero() && e.OccurredAt.Before(f.Since):
		return false
	case !f.Until.IsZero() && !e.OccurredAt.Before(f.Until):
		return false
	}
	return true
}

// ParseOffsets reads offset specifications, each a comma-separated list of
// PARTITION=OFFSET (every topic read) or TOPIC:PARTITION=OFFSET (one
// topic; the topic carries on to the bare items after it in the same
// specification, so "saga.events:0=120,1=98" names two partitions of
// saga.events). A partition named twice for the same topic is an error.
func ParseOffsets(specs []string) (every map[int32]int64, byTopic map[string]map[int32]int64, err error) {
	var errs []error
	set := func(topic string, p int32, o int64, item string) {
		if every == nil {
			every = map[int32]int64{}
		}
		m := every
		if topic != "" {
			if byTopic == nil {
				byTopic = map[string]map[int32]int64{}
			}
			if byTopic[topic] == nil {
				byTopic[topic] = map[int32]int64{}
			}
			m = byTopic[topic]
		}
		if _, dup := m[p]; dup {
			errs = append(errs, fmt.Errorf("%q: partition %d is given twice", item, p))
			return
		}
		m[p] = o
	}
	for _, spec := range specs {
		topic := ""
		for _, item := range strings.Split(spec, ",") {
			item = strings.TrimSpace(item)
			rest := item
			if i := strings.LastIndex(item, ":"); i >= 0 {
				topic, rest = item[:i], item[i+1:]
				if topic == "" {
					errs = append(errs, fmt.Errorf("%q: topic before ':' is empty", item))
					continue
				}
			}
			ps, offs, ok := strings.Cut(rest, "=")
			if !ok {
				errs = append(errs, fmt.Errorf("%q is not PARTITION=OFFSET or TOPIC:PARTITION=OFFSET", item))
				continue
			}
			p, perr := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
			o, oerr := strconv.ParseInt(strings.TrimSpace(offs), 10, 64)
			switch {
			case perr != nil || p < 0:
				errs = append(errs, fmt.Errorf("%q: partition %q is not a number from 0", item, ps))
			case oerr != nil || o < 0:
				errs = append(errs, fmt.Errorf("%q: offset %q is not a number from 0", item, offs))
			default:
				set(topic, int32(p), o, item)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if len(every) == 0 {
		every = nil
	}
	return every, byTopic, nil
}

// Replay reads the logs as they stand and returns their records in the
// order they happened: by time, and by log position within a partition.
// It does not follow (see ReplayEach).
func (c *Client) Replay(ctx context.Context, f ReplayFilter) ([]LogEntry, error) {
	if f.Follow {
		return nil, fmt.Errorf("%w: Replay does not follow: use ReplayEach", ErrInvalid)
	}
	var out []LogEntry
	err := c.ReplayEach(ctx, f, func(e LogEntry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// ReplayEach calls fn for the records of the filter, one call at a time.
// Without Follow it reads the logs as they stand and calls fn in the order
// the records happened (by time, stable: the topics in the order given,
// each partition in log order); with Follow it calls fn as records arrive
// until ctx ends, then returns nil. An error from fn stops the replay and
// is returned. Records that do not check (see the dead-letter topic) are
// skipped.
func (c *Client) ReplayEach(ctx context.Context, f ReplayFilter, fn func(LogEntry) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if err := c.checkPartitions(ctx, f); err != nil {
		return err
	}
	if f.Follow {
		return c.follow(ctx, f, fn)
	}
	var out []LogEntry
	for _, t := range f.topics() {
		keep := func(r bus.Record) error {
			e, err := bus.CheckRecord(r)
			if err != nil {
				c.skipped(r, err)
				return nil //nolint:nilerr // logged; the replay goes on
			}
			if f.Match(e) {
				out = append(out, entryOf(t, r, e))
			}
			return nil
		}
		if err := c.read(ctx, t, f.offsetsFor(t), keep); err != nil {
			return err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].OccurredAt.Before(out[j].OccurredAt) })
	for _, e := range out {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// read delivers a topic as it stands, each partition from its offset.
func (c *Client) read(ctx context.Context, topic string, from map[int32]int64, fn func(bus.Record) error) error {
	name := c.cfg.Topic(topic)
	if from == nil {
		return bus.ReadAll(ctx, c.cfg, name, fn)
	}
	n, err := bus.PartitionCount(ctx, c.cfg, name)
	if err != nil {
		return err
	}
	for p := range n {
		if err := bus.ReadPartition(ctx, c.cfg, name, p, from[p], fn); err != nil {
			return err
		}
	}
	return nil
}

// checkPartitions refuses offsets for partitions a topic does not have;
// topics with the same problem are reported together.
func (c *Client) checkPartitions(ctx context.Context, f ReplayFilter) error {
	var problems []string
	topics := map[string][]string{}
	for _, t := range f.topics() {
		from := f.offsetsFor(t)
		if from == nil {
			continue
		}
		n, err := bus.PartitionCount(ctx, c.cfg, c.cfg.Topic(t))
		if err != nil {
			return err
		}
		var missing []string
		for _, p := range sortedKeys(from) {
			if p >= n {
				missing = append(missing, strconv.Itoa(int(p)))
			}
		}
		if len(missing) == 0 {
			continue
		}
		what := "is no partition"
		if len(missing) > 1 {
			what = "are no partitions"
		}
		problem := fmt.Sprintf("%d partitions (0 to %d): there %s %s", n, n-1, what, strings.Join(missing, ", "))
		if topics[problem] == nil {
			problems = append(problems, problem)
		}
		topics[problem] = append(topics[problem], t)
	}
	var errs []error
	for _, problem := range problems {
		has := "has"
		if len(topics[problem]) > 1 {
			has = "have"
		}
		errs = append(errs, fmt.Errorf("%s %s %s", strings.Join(topics[problem], ", "), has, problem))
	}
	return invalid(errs...)
}

// follow reads every topic at once until ctx ends; fn is called from one
// goroutine at a time, in log order within each partition.
func (c *Client) follow(ctx context.Context, f ReplayFilter, fn func(LogEntry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	for _, t := range f.topics() {
		from := f.offsetsFor(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := bus.Follow(ctx, c.cfg, c.cfg.Topic(t), func(r bus.Record) error {
				if r.Offset < from[r.Partition] {
					return nil
				}
				e, err := bus.CheckRecord(r)
				if err != nil {
					c.skipped(r, err)
					return nil //nolint:nilerr // logged; the replay goes on
				}
				if !f.Match(e) {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				if first != nil {
					return first
				}
				if err := fn(entryOf(t, r, e)); err != nil {
					first = err
					cancel()
					return err
				}
				return nil
			})
			// Once ctx is done (the caller's end, or fn's error), what a
			// follow returns is only the echo of it.
			if err != nil && ctx.Err() == nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	return first
}

func entryOf(topic string, r bus.Record, e events.Envelope) LogEntry {
	return LogEntry{Topic: topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key),
		ID: e.ID, Type: e.Type, Version: e.Version, SagaID: e.SagaID, CorrelationID: e.CorrelationID,
		CausationID: e.CausationID, Actor: e.Actor, OccurredAt: e.OccurredAt, Payload: e.Payload}
}
