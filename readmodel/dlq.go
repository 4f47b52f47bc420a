package readmodel

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// --- dlq: the dead letters, one row per record of the dead-letter topic,
// so that a listing or a redrive's lookup reads a table instead of the
// whole topic. Payloads are kept with their secrets redacted; a redrive
// sends the record itself, read from its place on the topic. ---

// ProjectionDLQ names the dead-letter projection.
const ProjectionDLQ = "dlq"

// Headers the poison middleware (watermill's) adds to a dead letter, besides
// bus.MetaTopic, bus.MetaPartition and bus.MetaOffset.
const (
	HeaderReason     = "reason_poisoned"
	HeaderTopic      = "topic_poisoned"
	HeaderHandler    = "handler_poisoned"
	HeaderSubscriber = "subscriber_poisoned"
)

// Headers a redriven record carries: the place on the dead-letter topic of
// the letter it was redriven from. A redriven message that fails again
// comes back as a new letter with these headers (DeadLetter.RedrivenFrom).
const (
	HeaderRedrivenFromPartition = "redriven_from_dlq_partition"
	HeaderRedrivenFromOffset    = "redriven_from_dlq_offset"
)

var dlqProjection = &projection{
	name:    ProjectionDLQ,
	version: 1,
	topics:  []string{events.TopicDLQ},
	// A letter is often a record that failed the check: every record is one.
	raw: true,
	tables: []table{
		{name: "dlq_letters", columns: `
			dlq_partition INTEGER NOT NULL,
			dlq_offset    INTEGER NOT NULL,
			id            TEXT NOT NULL,
			type          TEXT NOT NULL,
			reason        TEXT NOT NULL,
			origin        TEXT NOT NULL,
			partition     INTEGER NOT NULL,
			offset        INTEGER NOT NULL,
			key           TEXT NOT NULL,
			dead_at       TEXT NOT NULL,
			redriven_from TEXT NOT NULL,
			headers       TEXT NOT NULL,
			payload       BLOB NOT NULL`,
			key:     "dlq_partition, dlq_offset",
			indexes: []string{"dead_at, dlq_partition, dlq_offset", "id"}},
	},
	apply: applyDLQ,
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
	// Payload is the message (JSON shows it as a string: it may not be
	// JSON at all). A listing gives it with its secrets redacted
	// (events.Redact); LetterOf gives it byte for byte.
	Payload []byte `json:"-"`
	// Origin is the topic on the cluster, namespace and all.
	Origin string `json:"-"`
}

// MarshalJSON writes the payload as a string.
func (d DeadLetter) MarshalJSON() ([]byte, error) {
	type plain DeadLetter
	return json.Marshal(struct {
		plain
		Payload string `json:"payload"`
	}{plain(d), string(d.Payload)})
}

// LetterOf reads the dead letter a record of the dead-letter topic is;
// namespace, when set, is taken off the topic it names.
func LetterOf(r bus.Record, namespace string) DeadLetter {
	h := r.Headers
	if h == nil {
		h = map[string]string{}
	}
	d := DeadLetter{
		ID:           h[bus.HeaderID],
		Type:         h[events.HeaderType],
		Reason:       h[HeaderReason],
		Origin:       h[bus.MetaTopic],
		Partition:    int32(headerInt(h, bus.MetaPartition, 32)),
		Offset:       headerInt(h, bus.MetaOffset, 64),
		Key:          string(r.Key),
		DLQPartition: r.Partition,
		DLQOffset:    r.Offset,
		DeadAt:       r.Timestamp,
		Headers:      h,
		Payload:      r.Value,
	}
	d.Topic, _ = bus.Config{Namespace: namespace}.Unprefixed(d.Origin)
	if d.ID == "" {
		d.ID = fmt.Sprintf("dlq:%d:%d", r.Partition, r.Offset)
	}
	if p, o := h[HeaderRedrivenFromPartition], h[HeaderRedrivenFromOffset]; o != "" {
		d.RedrivenFrom = p + ":" + o
	}
	return d
}

// SortLetters puts letters in the order a listing gives them: oldest
// first, then by place on the dead-letter topic.
func SortLetters(letters []DeadLetter) {
	sort.SliceStable(letters, func(i, j int) bool {
		a, b := letters[i], letters[j]
		if !a.DeadAt.Equal(b.DeadAt) {
			return a.DeadAt.Before(b.DeadAt)
		}
		if a.DLQPartition != b.DLQPartition {
			return a.DLQPartition < b.DLQPartition
		}
		return a.DLQOffset < b.DLQOffset
	})
}

// headerInt reads a numeric header; -1 when it is missing or not a number.
func headerInt(h map[string]string, k string, bits int) int64 {
	n, err := strconv.ParseInt(h[k], 10, bits)
	if err != nil {
		return -1
	}
	return n
}

func applyDLQ(b *batch, evs []*event) error {
	in := b.inserter(b.t("dlq_letters"), `dlq_partition, dlq_offset, id, type, reason, origin, partition, offset,
		key, dead_at, redriven_from, headers, payload`)
	for _, ev := range evs {
		d := LetterOf(ev.rec, "")
		headers, err := json.Marshal(d.Headers)
		if err != nil {
			return err
		}
		at := fmtTime(ev.rec.Timestamp)
		if at == nil {
			at = ""
		}
		payload := append([]byte{}, events.Redact(d.Payload)...) // never NULL
		in.add(d.DLQPartition, d.DLQOffset, d.ID, d.Type, d.Reason, d.Origin, d.Partition, d.Offset,
			d.Key, at, d.RedrivenFrom, string(headers), payload)
		if err := b.applied(); err != nil {
			return err
		}
	}
	in.flush()
	return nil
}

// LetterCursor is the place in the listing after which a page starts: the
// last letter of the page before.
type LetterCursor struct {
	DeadAt    string
	Partition int32
	Offset    int64
}

// String is the cursor in the text form ParseLetterCursor reads.
func (c LetterCursor) String() string {
	return fmt.Sprintf("%s|%d|%d", c.DeadAt, c.Partition, c.Offset)
}

// ParseLetterCursor reads a cursor String wrote.
func ParseLetterCursor(s string) (LetterCursor, error) {
	parts := strings.Split(s, "|")
	if len(parts) != 3 {
		return LetterCursor{}, errors.New("not a dead-letter cursor")
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil || p < 0 || o < 0 {
		return LetterCursor{}, errors.New("not a dead-letter cursor")
	}
	if _, err := time.Parse(time.RFC3339Nano, parts[0]); parts[0] != "" && err != nil {
		return LetterCursor{}, errors.New("not a dead-letter cursor")
	}
	return LetterCursor{DeadAt: parts[0], Partition: int32(p), Offset: o}, nil
}

const letterColumns = `dlq_partition, dlq_offset, id, type, reason, origin, partition, offset, key, dead_at,
	redriven_from, headers, payload`

// DeadLetters lists up to limit letters, oldest first, after the cursor
// (from the first when nil), with their payloads' secrets redacted; next is
// the cursor of the page after, nil when there is none. Topics lose
// namespace's prefix.
func (db *DB) DeadLetters(ctx context.Context, namespace string, after *LetterCursor, limit int) (letters []DeadLetter, next *LetterCursor, err error) {
	q := `SELECT ` + letterColumns + ` FROM dlq_letters`
	var args []any
	if after != nil {
		q += ` WHERE (dead_at, dlq_partition, dlq_offset) > (?, ?, ?)`
		args = append(args, after.DeadAt, after.Partition, after.Offset)
	}
	q += ` ORDER BY dead_at, dlq_partition, dlq_offset LIMIT ?`
	args = append(args, limit+1)
	letters, err = db.letters(ctx, namespace, q, args...)
	if err != nil || len(letters) <= limit {
		return letters, nil, err
	}
	letters = letters[:limit]
	last := letters[limit-1]
	at, _ := fmtTime(last.DeadAt).(string)
	return letters, &LetterCursor{DeadAt: at, Partition: last.DLQPartition, Offset: last.DLQOffset}, nil
}

// DeadLetter is the latest letter with id (a message that failed again
// after a redrive has several); ErrNotFound when none has.
func (db *DB) DeadLetter(ctx context.Context, namespace, id string) (DeadLetter, error) {
	ls, err := db.letters(ctx, namespace, `SELECT `+letterColumns+` FROM dlq_letters WHERE id = ?
		ORDER BY dead_at DESC, dlq_partition DESC, dlq_offset DESC LIMIT 1`, id)
	if err != nil {
		return DeadLetter{}, err
	}
	if len(ls) == 0 {
		return DeadLetter{}, fmt.Errorf("%w: no dead letter %q", ErrNotFound, id)
	}
	return ls[0], nil
}

func (db *DB) letters(ctx context.Context, namespace, query string, args ...any) ([]DeadLetter, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var d DeadLetter
		var at, headers string
		if err := rows.Scan(&d.DLQPartition, &d.DLQOffset, &d.ID, &d.Type, &d.Reason, &d.Origin, &d.Partition,
			&d.Offset, &d.Key, &at, &d.RedrivenFrom, &headers, &d.Payload); err != nil {
			return nil, err
		}
		d.DeadAt = parseTime(sql.NullString{String: at, Valid: true})
		d.Topic, _ = bus.Config{Namespace: namespace}.Unprefixed(d.Origin)
		if err := json.Unmarshal([]byte(headers), &d.Headers); err != nil {
			return nil, fmt.Errorf("stored headers of dead letter %d:%d: %w", d.DLQPartition, d.DLQOffset, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeadLettersLag is how many records of the dead-letter topic the dlq
// projection has still to apply (it asks Kafka how far the topic goes).
func (db *DB) DeadLettersLag(ctx context.Context, cfg bus.Config) (int64, error) {
	l, err := openLog(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	st := &statusReader{l: l, ends: map[Source]logEnd{}}
	ps, err := st.projection(ctx, db, dlqProjection, dlqProjection.name)
	return ps.LagEvents, err
}
