package readmodel

import (
	"context"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// PartitionStatus is how far a projection has read one partition.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// NextOffset is the next record to apply; LogEnd the partition's
	// high-water mark (one past its newest record).
	NextOffset int64 `json:"next_offset"`
	LogEnd     int64 `json:"log_end"`
	LagEvents  int64 `json:"lag_events"`
	// LagSeconds is the time of the newest record of the partition minus
	// the time of the last record applied; 0 when caught up.
	LagSeconds float64 `json:"lag_seconds"`
	// Applied and Skipped count the records folded and those that did not
	// check (skipped, offset advanced).
	Applied      int64     `json:"applied"`
	Skipped      int64     `json:"skipped"`
	LastRecordAt time.Time `json:"last_record_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

// ProjectionStatus is one projection's progress over its topics.
type ProjectionStatus struct {
	Name   string   `json:"name"`
	Topics []string `json:"topics"`
	// LagEvents sums the partitions' lags; LagSeconds is the largest.
	LagEvents  int64             `json:"lag_events"`
	LagSeconds float64           `json:"lag_seconds"`
	Applied    int64             `json:"applied"`
	Skipped    int64             `json:"skipped"`
	Partitions []PartitionStatus `json:"partitions"`
	// Rebuild is the progress of a rebuild that has not swapped yet
	// (running, or killed and waiting to be run again).
	Rebuild *ProjectionStatus `json:"rebuild,omitempty"`
}

// Status reports, per projection and partition, its offsets, the end of
// the log and the lag in events and in seconds.
func Status(ctx context.Context, cfg bus.Config, db *DB) ([]ProjectionStatus, error) {
	l, err := openLog(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	st := &statusReader{ctx: ctx, l: l, ends: map[Source]logEnd{}}
	var out []ProjectionStatus
	for _, p := range all {
		ps, err := st.projection(db, p, p.name)
		if err != nil {
			return nil, err
		}
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM projection_meta WHERE projection = ?`, p.name+nextKey).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			rb, err := st.projection(db, p, p.name+nextKey)
			if err != nil {
				return nil, err
			}
			ps.Rebuild = &rb
		}
		out = append(out, ps)
	}
	return out, nil
}

type logEnd struct {
	oldest, end int64
	newest      time.Time // time of the record at end-1
}

type statusReader struct {
	ctx  context.Context
	l    *kafkaLog
	ends map[Source]logEnd
}

func (st *statusReader) end(s Source) (logEnd, error) {
	if e, ok := st.ends[s]; ok {
		return e, nil
	}
	var e logEnd
	var err error
	if e.oldest, e.end, err = st.l.bounds(s); err != nil {
		return e, err
	}
	if e.end > e.oldest {
		r, err := st.l.recordAt(st.ctx, s, e.end-1)
		if err != nil {
			return e, err
		}
		e.newest = recordTime(r, eventTime(r))
	}
	st.ends[s] = e
	return e, nil
}

func (st *statusReader) projection(db *DB, p *projection, key string) (ProjectionStatus, error) {
	ps := ProjectionStatus{Name: key, Topics: p.topics, Partitions: []PartitionStatus{}}
	stored, err := loadOffsets(st.ctx, db.sql, key)
	if err != nil {
		return ps, err
	}
	srcs, err := st.l.sources(p.topics)
	if err != nil {
		return ps, err
	}
	for _, s := range srcs {
		e, err := st.end(s)
		if err != nil {
			return ps, err
		}
		o := stored[s]
		part := PartitionStatus{Topic: s.Topic, Partition: s.Partition, NextOffset: o.Next, LogEnd: e.end,
			Applied: o.Applied, Skipped: o.Skipped, LastRecordAt: o.LastRecordAt, UpdatedAt: o.UpdatedAt}
		next := max(o.Next, e.oldest)
		if next < e.end {
			part.LagEvents = e.end - next
			last := o.LastRecordAt
			if last.IsZero() {
				// Nothing applied yet: behind by the whole unread log.
				r, err := st.l.recordAt(st.ctx, s, next)
				if err != nil {
					return ps, err
				}
				last = recordTime(r, eventTime(r))
			}
			if lag := e.newest.Sub(last).Seconds(); lag > 0 {
				part.LagSeconds = lag
			}
		}
		ps.LagEvents += part.LagEvents
		ps.LagSeconds = max(ps.LagSeconds, part.LagSeconds)
		ps.Applied += part.Applied
		ps.Skipped += part.Skipped
		ps.Partitions = append(ps.Partitions, part)
	}
	return ps, nil
}

// eventTime is the envelope of r as far as it reads (for its time).
func eventTime(r bus.Record) events.Envelope {
	env, _ := bus.CheckRecord(r)
	return env
}
