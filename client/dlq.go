package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/readmodel"
)

// Headers of a dead letter and of a redriven record (readmodel's).
const (
	HeaderReason                = readmodel.HeaderReason
	HeaderRedrivenFromPartition = readmodel.HeaderRedrivenFromPartition
	HeaderRedrivenFromOffset    = readmodel.HeaderRedrivenFromOffset
)

// deadLetterOnly are the headers that describe the letter, not the
// message: a redrive drops them.
var deadLetterOnly = map[string]bool{
	readmodel.HeaderReason: true, readmodel.HeaderTopic: true, readmodel.HeaderHandler: true, readmodel.HeaderSubscriber: true,
	bus.MetaTopic: true, bus.MetaPartition: true, bus.MetaOffset: true,
	HeaderRedrivenFromPartition: true, HeaderRedrivenFromOffset: true,
}

// DeadLetter is a message that could never be processed (readmodel's).
type DeadLetter = readmodel.DeadLetter

// letterReader is a read model that keeps the dead letters
// (readmodel.DB).
type letterReader interface {
	DeadLetters(ctx context.Context, namespace string, after *readmodel.LetterCursor, limit int) ([]readmodel.DeadLetter, *readmodel.LetterCursor, error)
	DeadLetter(ctx context.Context, namespace, id string) (readmodel.DeadLetter, error)
	DeadLettersLag(ctx context.Context, cfg bus.Config) (int64, error)
}

// caughtUpLetters is the read model's dead letters when the client was
// given one (UseReadModel) and it has applied the whole topic; nil when
// the topic must be read instead.
func (c *Client) caughtUpLetters(ctx context.Context) (letterReader, error) {
	lr, ok := c.reader.(letterReader)
	if !ok {
		return nil, nil
	}
	lag, err := lr.DeadLettersLag(ctx, c.cfg)
	if err != nil || lag > 0 {
		return nil, err
	}
	return lr, nil
}

// letterPage is how many letters one read of the read model lists.
const letterPage = 500

// DeadLetters lists the dead letters, oldest first, with the secrets of
// their payloads redacted: from the read model when it has applied the
// whole dead-letter topic, else from the topic.
func (c *Client) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	lr, err := c.caughtUpLetters(ctx)
	if err != nil {
		return nil, err
	}
	if lr != nil {
		out := []DeadLetter{}
		var after *readmodel.LetterCursor
		for {
			page, next, err := lr.DeadLetters(ctx, c.cfg.Namespace, after, letterPage)
			if err != nil {
				return nil, err
			}
			out = append(out, page...)
			if next == nil {
				return out, nil
			}
			after = next
		}
	}
	out, err := c.readLetters(ctx)
	for i := range out {
		out[i].Payload = events.Redact(out[i].Payload)
	}
	return out, err
}

// readLetters reads the dead-letter topic as it stands, oldest first,
// payloads as they are.
func (c *Client) readLetters(ctx context.Context) ([]DeadLetter, error) {
	out := []DeadLetter{}
	err := bus.ReadAll(ctx, c.cfg, c.cfg.Topic(events.TopicDLQ), func(r bus.Record) error {
		out = append(out, readmodel.LetterOf(r, c.cfg.Namespace))
		return nil
	})
	if err != nil {
		return nil, err
	}
	readmodel.SortLetters(out)
	return out, nil
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
// version, say). When several letters have the id (a message that failed
// again after a redrive), the latest is sent. The letter is looked up in
// the read model when it has applied the whole dead-letter topic, else in
// the topic. An unknown id is ErrNotFound. See RedriveAt.
func (c *Client) Redrive(ctx context.Context, id string) (Redriven, error) {
	lr, err := c.caughtUpLetters(ctx)
	if err != nil {
		return Redriven{}, err
	}
	var d DeadLetter
	if lr != nil {
		d, err = lr.DeadLetter(ctx, c.cfg.Namespace, id)
		if errors.Is(err, readmodel.ErrNotFound) {
			return Redriven{}, fmt.Errorf("%w: no dead letter %q", ErrNotFound, id)
		}
		if err != nil {
			return Redriven{}, err
		}
	} else {
		letters, err := c.readLetters(ctx)
		if err != nil {
			return Redriven{}, err
		}
		found := false
		for _, l := range letters {
			if l.ID == id {
				d, found = l, true
			}
		}
		if !found {
			return Redriven{}, fmt.Errorf("%w: no dead letter %q", ErrNotFound, id)
		}
	}
	return c.RedriveAt(ctx, d.DLQPartition, d.DLQOffset)
}

// RedriveAt sends the message of the letter at partition/offset of the
// dead-letter topic back to the topic it was read from: its key, payload
// and headers as the letter holds them (read from the topic, so byte for
// byte), less the headers that describe the letter, plus
// HeaderRedrivenFromPartition and HeaderRedrivenFromOffset. The letter
// stays on the dead-letter topic; if the message fails again it becomes a
// new letter.
func (c *Client) RedriveAt(ctx context.Context, partition int32, offset int64) (Redriven, error) {
	l, err := bus.OpenLog(c.cfg, bus.LogOptions{})
	if err != nil {
		return Redriven{}, err
	}
	r, err := l.RecordAt(ctx, c.cfg.Topic(events.TopicDLQ), partition, offset)
	l.Close()
	if err != nil {
		return Redriven{}, fmt.Errorf("read dead letter %d:%d: %w", partition, offset, err)
	}
	if r.Offset != offset {
		return Redriven{}, fmt.Errorf("%w: dead letter %d:%d is no longer on the topic", ErrNotFound, partition, offset)
	}
	d := readmodel.LetterOf(r, c.cfg.Namespace)
	if d.Origin == "" {
		return Redriven{}, fmt.Errorf("dead letter %s does not say which topic it came from (no %s header)", d.ID, bus.MetaTopic)
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
	part, off, err := bus.Send(c.cfg, d.Origin, d.Key, d.Payload, headers)
	if err != nil {
		return Redriven{}, fmt.Errorf("redrive %s to %s: %w", d.ID, d.Topic, err)
	}
	return Redriven{ID: d.ID, Topic: d.Topic, Partition: part, Offset: off, Key: d.Key,
		FromDLQPartition: d.DLQPartition, FromDLQOffset: d.DLQOffset}, nil
}
