package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
)

// recoveredMsg is what the orchestrator logs once it has folded the saga
// log partitions it was given and re-sent the commands in flight.
const recoveredMsg = "recovered sagas from the log"

// assignedMsg is logged when the orchestrator's group member is given its
// partitions, just before it recovers them.
const assignedMsg = "partitions assigned"

// Recovery is how long an orchestrator started on a history takes to
// decide on a new request, and what the recovery costs it. Times are
// milliseconds from the start of the process.
type Recovery struct {
	// HistoryEvents is the saga log's length when the process started.
	HistoryEvents int64 `json:"history_events"`
	Partitions    int   `json:"partitions"`
	// RunningSagas and EndedSagas are what the orchestrator says it
	// recovered.
	RunningSagas int `json:"running_sagas"`
	EndedSagas   int `json:"ended_sagas"`
	// ToFirstDecisionMS is until the SagaStarted of the request posted
	// before the start was read back from the saga log: the first decision.
	ToFirstDecisionMS float64 `json:"to_first_decision_ms"`
	// DecidedMS is until that SagaStarted's record timestamp (the
	// orchestrator's producer stamps it when it batches the record).
	DecidedMS float64 `json:"decided_ms"`
	// AssignedMS is until the process logged that it was given its
	// partitions: start-up, topic checks and joining the group come before.
	AssignedMS float64 `json:"assigned_ms"`
	// RecoveredMS is until the process logged its recovery.
	RecoveredMS float64 `json:"recovered_ms"`
	// FoldMS is the orchestrator's own "took" of the recovery: reading and
	// folding its partitions, then re-sending every command in flight.
	FoldMS float64 `json:"fold_ms"`
	// ResentCommands are the commands sent before the first decision (the
	// recovery's re-sends); ResendMS is from the first to the last of them
	// by record timestamp, the part of FoldMS spent re-sending.
	ResentCommands int     `json:"resent_commands"`
	ResendMS       float64 `json:"resend_ms"`
	// RSS, PeakRSS and CPU are the process's at the first decision.
	RSSBytes     int64   `json:"rss_bytes"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	CPUMS        float64 `json:"cpu_ms"`
	FreshSagaID  string  `json:"fresh_saga_id"`
}

// RecoveryOptions tune MeasureRecovery; the zero value is fine.
type RecoveryOptions struct {
	// Timeout bounds the wait for the first decision; 10 minutes when zero.
	Timeout time.Duration
	// Env is added to the orchestrator's environment.
	Env []string
}

// MeasureRecovery starts an orchestrator (exe, the saga binary, as a child
// process) on the history already in cfg's namespace, and measures how
// long it takes to decide on a book-ticket request posted just before it
// started. The process is stopped before it returns.
func MeasureRecovery(ctx context.Context, cfg bus.Config, exe string, opts RecoveryOptions) (Recovery, error) {
	var rec Recovery
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return rec, err
	}
	sc, err := sarama.NewClient(cfg.Brokers, conf)
	if err != nil {
		return rec, fmt.Errorf("bench: connect: %w", err)
	}
	defer sc.Close()
	logTopic := cfg.Topic(events.TopicSagaLog)
	starts, ends, err := recoveryBounds(sc, logTopic)
	if err != nil {
		return rec, err
	}
	rec.Partitions = len(ends)
	for p := range ends {
		rec.HistoryEvents += ends[p] - starts[p]
	}
	cmdEnds := map[string][]int64{}
	for _, s := range events.Services() {
		t := cfg.Topic(events.CommandTopic(s))
		if _, cmdEnds[t], err = recoveryBounds(sc, t); err != nil {
			return rec, err
		}
	}

	// The request waits in saga.requests for the orchestrator to come up.
	fresh, err := postBooking(ctx, cfg)
	if err != nil {
		return rec, err
	}
	rec.FreshSagaID = fresh

	// Follow the fresh saga's partition from the end it had before.
	consumer, err := sarama.NewConsumerFromClient(sc)
	if err != nil {
		return rec, err
	}
	defer consumer.Close()
	part := bus.PartitionFor(fresh, int32(len(ends)))
	pc, err := consumer.ConsumePartition(logTopic, part, ends[part])
	if err != nil {
		return rec, fmt.Errorf("bench: follow %s/%d: %w", logTopic, part, err)
	}
	defer pc.AsyncClose()
	type seen struct {
		at, stamped time.Time
	}
	decided := make(chan seen, 1)
	followErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-pc.Errors():
				if err != nil {
					followErr <- err
					return
				}
			case m, ok := <-pc.Messages():
				if !ok {
					return
				}
				if header(m, events.HeaderSagaID) == fresh && events.Type(header(m, events.HeaderType)) == events.SagaStarted {
					decided <- seen{at: time.Now(), stamped: m.Timestamp}
					return
				}
			}
		}
	}()

	began := time.Now()
	proc, err := StartProc("orchestrator", exe, orchestratorArgs(cfg), append(procEnv(cfg), opts.Env...))
	if err != nil {
		return rec, err
	}
	defer proc.Stop(15 * time.Second)
	ms := func(t time.Time) float64 { return float64(t.Sub(began)) / float64(time.Millisecond) }

	var line recoveredLine
	var haveLine bool
	var first seen
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		out := proc.Output()
		now := time.Now()
		if rec.AssignedMS == 0 && strings.Contains(out, assignedMsg) {
			rec.AssignedMS = ms(now)
		}
		if !haveLine {
			if line, haveLine = findRecovered(out); haveLine {
				rec.RecoveredMS = ms(now)
			}
		}
		select {
		case first = <-decided:
			u, err := proc.Usage()
			if err != nil {
				return rec, err
			}
			rec.RSSBytes, rec.PeakRSSBytes, rec.CPUMS = u.RSS, u.PeakRSS, float64(u.CPU)/float64(time.Millisecond)
			break wait
		case err := <-followErr:
			return rec, fmt.Errorf("bench: follow %s/%d: %w", logTopic, part, err)
		case <-ctx.Done():
			return rec, fmt.Errorf("bench: no decision on saga %s: %w\n%s", fresh, ctx.Err(), proc.Output())
		case <-tick.C:
			if exited, err := proc.Exited(); exited {
				return rec, fmt.Errorf("bench: orchestrator exited (%v) before deciding\n%s", err, proc.Output())
			}
		}
	}
	rec.ToFirstDecisionMS, rec.DecidedMS = ms(first.at), ms(first.stamped)
	if !haveLine {
		// Logged before any request is handled; only the polling can miss it.
		if err := proc.WaitOutput(ctx, recoveredMsg); err != nil {
			return rec, err
		}
		if line, haveLine = findRecovered(proc.Output()); !haveLine {
			return rec, fmt.Errorf("bench: unreadable %q line\n%s", recoveredMsg, proc.Output())
		}
		rec.RecoveredMS = ms(time.Now())
	}
	rec.RunningSagas, rec.EndedSagas, rec.FoldMS = line.Running, line.Ended, line.Took
	proc.Stop(15 * time.Second)

	// The commands sent before the first decision to sagas that were in
	// the log before the start are the recovery's re-sends.
	started := map[string]bool{}
	for p, from := range ends {
		err := bus.ReadPartition(ctx, cfg, logTopic, int32(p), from, func(r bus.Record) error {
			if events.Type(r.Headers[events.HeaderType]) == events.SagaStarted {
				started[r.Headers[events.HeaderSagaID]] = true
			}
			return nil
		})
		if err != nil {
			return rec, err
		}
	}
	var firstCmd, lastCmd time.Time
	for topic, ends := range cmdEnds {
		for p, from := range ends {
			err := bus.ReadPartition(ctx, cfg, topic, int32(p), from, func(r bus.Record) error {
				if started[r.Headers[events.HeaderSagaID]] || r.Timestamp.Before(began) || r.Timestamp.After(first.stamped) {
					return nil
				}
				rec.ResentCommands++
				if firstCmd.IsZero() || r.Timestamp.Before(firstCmd) {
					firstCmd = r.Timestamp
				}
				if r.Timestamp.After(lastCmd) {
					lastCmd = r.Timestamp
				}
				return nil
			})
			if err != nil {
				return rec, err
			}
		}
	}
	if rec.ResentCommands > 0 {
		rec.ResendMS = float64(lastCmd.Sub(firstCmd)) / float64(time.Millisecond)
	}
	return rec, nil
}

// orchestratorArgs run the orchestrator alone against cfg's brokers; the
// namespace goes in SAGA_NAMESPACE.
func orchestratorArgs(cfg bus.Config) []string {
	args := []string{"up", "--parts", "orchestrator", "--brokers", strings.Join(cfg.Brokers, ","),
		"--log-level", "info", "--log-format", "json"}
	if cfg.Partitions > 0 {
		args = append(args, "--partitions", strconv.Itoa(int(cfg.Partitions)))
	}
	return args
}

// postBooking posts a fresh book-ticket request as `saga book` does and
// returns its saga id.
func postBooking(ctx context.Context, cfg bus.Config) (string, error) {
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		return "", err
	}
	defer c.Close()
	r, err := c.Book(ctx, client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 1, PaymentToken: "tok_visa"})
	if err != nil {
		return "", fmt.Errorf("bench: post a booking: %w", err)
	}
	return r.SagaID, nil
}

// recoveryBounds returns the oldest offset and the high-water mark of
// every partition of topic, by partition number.
func recoveryBounds(sc sarama.Client, topic string) (starts, ends []int64, err error) {
	parts, err := sc.Partitions(topic)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: partitions of %s: %w", topic, err)
	}
	starts, ends = make([]int64, len(parts)), make([]int64, len(parts))
	for _, p := range parts {
		if int(p) >= len(parts) {
			return nil, nil, fmt.Errorf("bench: %s has partition %d of %d", topic, p, len(parts))
		}
		if starts[p], err = bus.Offset(sc, topic, p, sarama.OffsetOldest); err != nil {
			return nil, nil, err
		}
		if ends[p], err = bus.Offset(sc, topic, p, sarama.OffsetNewest); err != nil {
			return nil, nil, err
		}
	}
	return starts, ends, nil
}

func header(m *sarama.ConsumerMessage, key string) string {
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// recoveredLine is the orchestrator's recovery log line (JSON format;
// zerolog writes durations as float milliseconds).
type recoveredLine struct {
	Message string  `json:"message"`
	Running int     `json:"running"`
	Ended   int     `json:"ended"`
	Took    float64 `json:"took"`
}

// findRecovered finds the first recovery line in a process's output. The
// runtime's GC trace writes to the same stream in small pieces, so a log
// line may begin after a fragment of one on the same line: the JSON object
// is looked for from each '{' on.
func findRecovered(out string) (recoveredLine, bool) {
	for l := range strings.Lines(out) {
		if !strings.Contains(l, recoveredMsg) {
			continue
		}
		for i := strings.IndexByte(l, '{'); i >= 0; {
			var r recoveredLine
			if json.NewDecoder(strings.NewReader(l[i:])).Decode(&r) == nil && r.Message == recoveredMsg {
				return r, true
			}
			next := strings.IndexByte(l[i+1:], '{')
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	return recoveredLine{}, false
}
