package client

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// Headers the poison middleware (watermill's) adds to a dead letter, besides
// bus.MetaTopic, bus.MetaPartition and bus.MetaOffset.
const (
	HeaderReason     = "reason_poisoned"
	headerTopic      = "topic_poisoned"
	headerHandler    = "handler_poisoned"
	headerSubscriber = "subscriber_poisoned"
)

// Headers a redriven record carries: the place on the dead-letter topic of
// the letter it was redriven from. A redriven message that fails again
// comes back as a new letter with these headers (DeadLetter.RedrivenFrom).
const (
	HeaderRedrivenFromPartition = "redriven_from_dlq_partition"
	HeaderRedrivenFromOffset    = "redriven_from_dlq_offset"
)

// deadLetterOnly are the headers that describe the letter, not the
// message: a redrive drops them.
var deadLetterOnly = map[string]bool{
	HeaderReason: true, headerTopic: true, headerHandler: true, headerSubscriber: true,
	bus.MetaTopic: true, bus.MetaPartition: true, bus.MetaOffset: true,
	HeaderRedrivenFromPartition: true, HeaderRedrivenFromOffset: true,
}

// DeadLetter is a message that could never be processed, as the
// dead-letter topic holds it: why, where it was read, and the message.
//
// Kafka records cannot be deleted, so the topic keeps every letter, also
// after a redrive; a redriven message that fails again is a new letter
// with the same id (and RedrivenFrom set).
type DeadLetter struct {
	// ID is the message's id, or "dlq:PARTITION:OFFSET" (its place on the
	// dead-letter topic) for a message that had none.
	ID     string `json:"id"`
	Type   string `json:"type,omitempty"`
	Reason string `json:"reason"`
	// Topic, Partition and Offset say where the message was read; Topic
	// without the namespace prefix. Partition and Offset are -1 when the
	// letter does not say.
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key,omitempty"`
	// DLQPartition and DLQOffset are the letter's place on the dead-letter
	// topic; DeadAt is when it was written there.
	DLQPartition int32     `json:"dlq_partition"`
	DLQOffset    int64     `json:"dlq_offset"`
	DeadAt       time.Time `json:"dead_at"`
	// RedrivenFrom is "PARTITION:OFFSET" of the letter this message was
	// redriven from, when it failed again after a redrive.
	RedrivenFrom string `json:"redriven_from,omitempty"`
	// Headers are the letter's headers: the message's own and the ones
	// above.
	Headers map[string]string `json:"headers"`
	// Payload is the message as it was, byte for byte (JSON shows it as a
	// string: it may not be JSON at all).
	Payload []byte `json:"-"`

	// origin is the topic on the cluster, namespace and all.
	origin string
}

// MarshalJSON writes the payload as a string.
func (d DeadLetter) MarshalJSON() ([]byte, error) {
	type plain DeadLetter
	return json.Marshal(struct {
		plain
		Payload string `json:"payload"`
	}{plain(d), string(d.Payload)})
}

// DeadLetters reads the dead-letter topic as it stands, oldest first.
func (c *Client) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	out := []DeadLetter{}
	err := bus.ReadAll(ctx, c.cfg, c.cfg.Topic(events.TopicDLQ), func(r bus.Record) error {
		out = append(out, c.letterOf(r))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.DeadAt.Equal(b.DeadAt) {
			return a.DeadAt.Before(b.DeadAt)
		}
		if a.DLQPartition != b.DLQPartition {
			return a.DLQPartition < b.DLQPartition
		}
		return a.DLQOffset < b.DLQOffset
	})
	return out, nil
}

func (c *Client) letterOf(r bus.Record) DeadLetter {
	h := r.Headers
	d := DeadLetter{
		ID:           h[bus.HeaderID],
		Type:         h[events.HeaderType],
		Reason:       h[HeaderReason],
		origin:       h[bus.MetaTopic],
		Topic:        c.unprefixed(h[bus.MetaTopic]),
		Partition:    int32(headerInt(h, bus.MetaPartition, 32)),
		Offset:       headerInt(h, bus.MetaOffset, 64),
		Key:          string(r.Key),
		DLQPartition: r.Partition,
		DLQOffset:    r.Offset,
		DeadAt:       r.Timestamp,
		Headers:      h,
		Payload:      r.Value,
	}
	if d.ID == "" {
		d.ID = fmt.Sprintf("dlq:%d:%d", r.Partition, r.Offset)
	}
	if p, o := h[HeaderRedrivenFromPartition], h[HeaderRedrivenFromOffset]; o != "" {
		d.RedrivenFrom = p + ":" + o
	}
	return d
}

// unprefixed maps a cluster topic name back to the name saga uses.
func (c *Client) unprefixed(topic string) string {
	if c.cfg.Namespace != "" {
		return strings.TrimPrefix(topic, c.cfg.Namespace+".")
	}
	return topic
}

// headerInt reads a numeric header; -1 when it is missing or not a number.
func headerInt(h map[string]string, k string, bits int) int64 {
	n, err := strconv.ParseInt(h[k], 10, bits)
	if err != nil {
		return -1
	}
	return n
}

// Redriven says where a redriven message went.
type Redriven struct {
	ID        string `json:"id"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key,omitempty"`
	// FromDLQPartition and FromDLQOffset name the letter it came from.
	FromDLQPartition int32 `json:"from_dlq_partition"`
	FromDLQOffset    int64 `json:"from_dlq_offset"`
}

// Redrive sends a dead-lettered message back to the topic it was read
// from, once whatever made it fail has been fixed (a build that reads its
// version, say): the same key, payload and headers, less the ones that
// describe the letter, plus HeaderRedrivenFromPartition and
// HeaderRedrivenFromOffset. When several letters have the id (a message
// that failed again after a redrive), the latest is sent. The letter stays
// on the dead-letter topic; if the message fails again it becomes a new
// letter. An unknown id is ErrNotFound.
func (c *Client) Redrive(ctx context.Context, id string) (Redriven, error) {
	letters, err := c.DeadLetters(ctx)
	if err != nil {
		return Redriven{}, err
	}
	var d *DeadLetter
	for i := range letters {
		if letters[i].ID == id {
			d = &letters[i]
		}
	}
	if d == nil {
		return Redriven{}, fmt.Errorf("%w: no dead letter %q", ErrNotFound, id)
	}
	if d.origin == "" {
		return Redriven{}, fmt.Errorf("dead letter %s does not say which topic it came from (no %s header)", id, bus.MetaTopic)
	}
	keys := make([]string, 0, len(d.Headers))
	for k := range d.Headers {
		if !deadLetterOnly[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	headers := make([]bus.Header, 0, len(keys)+2)
	for _, k := range keys {
		headers = append(headers, bus.Header{Key: k, Value: d.Headers[k]})
	}
	headers = append(headers,
		bus.Header{Key: HeaderRedrivenFromPartition, Value: strconv.Itoa(int(d.DLQPartition))},
		bus.Header{Key: HeaderRedrivenFromOffset, Value: strconv.FormatInt(d.DLQOffset, 10)})
	part, off, err := bus.Send(c.cfg, d.origin, d.Key, d.Payload, headers)
	if err != nil {
		return Redriven{}, fmt.Errorf("redrive %s to %s: %w", id, d.Topic, err)
	}
	return Redriven{ID: d.ID, Topic: d.Topic, Partition: part, Offset: off, Key: d.Key,
		FromDLQPartition: d.DLQPartition, FromDLQOffset: d.DLQOffset}, nil
}
