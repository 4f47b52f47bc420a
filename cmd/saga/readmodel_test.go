package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
)

// With read models in the data directory, list and inspect answer from
// them and say how stale they are; book --wait returns only once the read
// model holds the saga's end (read your own writes); projections status
// and rebuild work on them.
func TestCLIReadsTheReadModel(t *testing.T) {
	emb := bustest.StartEmbedded(t, t.TempDir())
	cfg := bus.Config{Brokers: emb.Addrs(), Namespace: bustest.Namespace()}
	dataDir := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: trusted(cfg, ""), Keys: testKeys, Log: log, ReadModel: filepath.Join(dataDir, readmodel.FileName)})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	}()
	t.Setenv("SAGA_NAMESPACE", cfg.Namespace)
	saga := func(args ...string) result {
		t.Helper()
		return cliWithin(t, 60*time.Second, append([]string{"--brokers", strings.Join(emb.Addrs(), ","), "--data-dir", dataDir}, args...)...)
	}
	refused := saga("book", "--user", "alice", "--show", "show-1", "--seats", "2",
		"--payment-token", "tok_declined", "--wait", "30s", "-o", "json", "--idempotency-key", "rm-declined")
	var rec receipt
	if err := json.Unmarshal([]byte(refused.stdout), &rec); err != nil || rec.Status != "compensated" || refused.code != exitCompensated {
		t.Fatalf("book: exit %d, %s (%v)", refused.code, refused.stdout, err)
	}
	// The key's saga is in the read model: another request with it is
	// refused before anything is posted, even without --wait.
	saga("book", "--user", "bob", "--show", "show-1", "--seats", "1", "--payment-token", "tok_ok",
		"--idempotency-key", "rm-declined").wantFailure(t, exitUsage, `idempotency key "rm-declined"`)
	// The same request again, without --wait: the saga's state as it
	// stands, not "running".
	repeated := saga("book", "--user", "alice", "--show", "show-1", "--seats", "2",
		"--payment-token", "tok_declined", "-o", "json", "--idempotency-key", "rm-declined")
	if r := decodeJSON[receipt](t, repeated); r.Status != "compensated" || !strings.Contains(r.Reason, "card declined") {
		t.Errorf("repeated book reports %+v, want its saga compensated with the reason", r)
	}
	// Shows: added once; the same details again are a no-op that says so;
	// other details are refused.
	add := []string{"shows", "add", "--id", "show-rm", "--title", "T", "--venue", "V", "--country", "US", "--capacity", "10", "--price", "5"}
	saga(append(add, "--wait", "30s")...).wantOK(t)
	if r := saga(add...); r.code != exitOK || r.stdout != "" || !strings.Contains(r.stderr, "nothing to do") {
		t.Errorf("shows add again: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	add[len(add)-3] = "12"
	saga(add...).wantFailure(t, exitUsage, "show-rm", "capacity 10, not 12")
	if text := saga("shows", "search").wantOK(t); !strings.Contains(text, "show-rm") {
		t.Errorf("shows search without filters misses show-rm:\n%s", text)
	}
	// Right after --wait, the read model already has the saga's end.
	type inspectedRM struct {
		inspected
		Staleness struct {
			Source    string `json:"source"`
			LagEvents int64  `json:"lag_events"`
		} `json:"staleness"`
	}
	v := decodeJSON[inspectedRM](t, saga("inspect", rec.BookingRef, "-o", "json"))
	if v.Status != "compensated" || v.Staleness.Source != "read model" || v.Show == nil || v.Show.Available != 100 {
		t.Fatalf("inspect from the read model: %+v", v)
	}
	list := decodeJSON[[]map[string]any](t, saga("list", "--status", "compensated", "-o", "json"))
	if len(list) != 1 || list[0]["saga_id"] != rec.SagaID {
		t.Fatalf("list from the read model: %v", list)
	}
	if r := saga("list"); r.wantOK(t) == "" || !strings.Contains(r.stderr, "read model") {
		t.Fatalf("list as text does not say on stderr where its answer comes from:\n%s", r.stderr)
	}
	status := decodeJSON[[]readmodel.ProjectionStatus](t, saga("projections", "status", "-o", "json"))
	if len(status) != len(readmodel.Names()) {
		t.Fatalf("status of %d projections, want %d", len(status), len(readmodel.Names()))
	}
	for _, p := range status {
		if p.LagEvents != 0 {
			t.Errorf("projection %s is %d events behind at rest", p.Name, p.LagEvents)
		}
	}
	saga("projections", "rebuild").wantOK(t)
	again := decodeJSON[inspectedRM](t, saga("inspect", rec.BookingRef, "-o", "json"))
	if again.Status != v.Status || len(again.Events) != len(v.Events) {
		t.Fatalf("after a rebuild inspect says %+v, before it said %+v", again, v)
	}
	saga("projections", "rebuild", "nope").wantFailure(t, exitUsage, `unknown projection "nope"`)
}

// With the broker gone, list and inspect answer from the read model and
// say how old it is; without a read model, the error says how to start
// the system.
func TestCLIAnswersFromTheReadModelWhenTheBrokerIsDown(t *testing.T) {
	emb := bustest.StartEmbedded(t, t.TempDir())
	cfg := bus.Config{Brokers: emb.Addrs(), Namespace: bustest.Namespace()}
	dataDir := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: trusted(cfg, ""), Keys: testKeys, Log: log, ReadModel: filepath.Join(dataDir, readmodel.FileName)})
	}()
	t.Setenv("SAGA_NAMESPACE", cfg.Namespace)
	brokers := strings.Join(emb.Addrs(), ",")
	saga := func(args ...string) result {
		t.Helper()
		return cliWithin(t, 60*time.Second, append([]string{"--brokers", brokers, "--data-dir", dataDir}, args...)...)
	}
	rec := decodeJSON[receipt](t, saga("book", "--user", "alice", "--show", "show-1", "--seats", "1",
		"--payment-token", "tok_ok", "--wait", "30s", "-o", "json"))
	stop()
	if err := <-done; err != nil {
		t.Fatalf("system: %v", err)
	}
	emb.Close()

	listed := saga("list")
	if !strings.Contains(listed.wantOK(t), rec.BookingRef) || !strings.Contains(listed.stderr, "the logs cannot be read") ||
		!strings.Contains(listed.stderr, "holds the logs up to") {
		t.Errorf("list with the broker down: stdout %q, stderr %q", listed.stdout, listed.stderr)
	}
	v := decodeJSON[inspectOut](t, saga("inspect", rec.BookingRef, "-o", "json"))
	if v.Status != "completed" || v.Staleness.Offline == "" || v.Staleness.AsOf.IsZero() {
		t.Errorf("inspect with the broker down: %+v", v)
	}
	// Completion offers the sagas of the read model, without a broker.
	if out := saga("__complete", "inspect", "BK-").stdout; !strings.Contains(out, rec.BookingRef+"\tbook-ticket completed") {
		t.Errorf("completion of inspect BK- = %q, want %s", out, rec.BookingRef)
	}
	if out := saga("__complete", "list", "--status", "comp").stdout; !strings.Contains(out, "compensated\n") {
		t.Errorf("completion of list --status comp = %q", out)
	}
	// No read model and nothing running: the error says how to start it.
	cliWithin(t, 60*time.Second, "--brokers", brokers, "--data-dir", t.TempDir(), "list").wantFailure(t, exitError, "saga up")
}
