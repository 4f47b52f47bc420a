package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/readmodel"
)

// ReplayResult compares a rebuild of every read model with a plain read of
// the topics it folds.
type ReplayResult struct {
	Events        int64              `json:"events"`
	Seconds       float64            `json:"seconds"`
	EventsPerSec  float64            `json:"events_per_sec"`
	RawPerSec     float64            `json:"raw_consume_per_sec"`
	RebuildToRaw  float64            `json:"rebuild_to_raw_ratio"`
	PerProjection map[string]float64 `json:"records_per_sec_by_projection"`
}

// Replay rebuilds every projection from cfg's logs into a fresh SQLite file
// in dir, then reads the same topics raw.
func Replay(ctx context.Context, cfg bus.Config, dir string) (ReplayResult, error) {
	var topics []string
	for _, t := range readmodel.Topics() {
		topics = append(topics, cfg.Topic(t))
	}
	raw, err := RawConsume(ctx, cfg, topics)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("raw consume: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("replay-%d.db", time.Now().UnixNano()))
	defer os.Remove(path)
	db, err := readmodel.Open(ctx, path)
	if err != nil {
		return ReplayResult{}, err
	}
	defer db.Close()
	start := time.Now()
	res, err := readmodel.Rebuild(ctx, cfg, db)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("rebuild: %w", err)
	}
	secs := time.Since(start).Seconds()
	out := ReplayResult{Events: int64(raw.Records), Seconds: secs, EventsPerSec: float64(raw.Records) / secs,
		RawPerSec: raw.RecordsPerSec, PerProjection: map[string]float64{}}
	out.RebuildToRaw = out.EventsPerSec / out.RawPerSec
	for _, r := range res {
		out.PerProjection[r.Projection] = r.RecordsPerSecond
	}
	return out, nil
}
