package bench

import (
	"context"
	"errors"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

var rawSizes = []int{200, 900}

const rawN = 2000

func TestRawSaramaCountsEveryRecordAndStoresThemWithHeaders(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := rawCtx(t)
	topic := cfg.Topic("raw-sarama")
	res, err := RawSarama(ctx, cfg, topic, rawSizes, rawN)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, "sarama", rawN, rawSizes)
	checkTopic(t, ctx, cfg, topic, rawN, rawSizes, false)
	checkConsume(t, ctx, cfg, []string{topic}, rawN, res.Bytes)
}

func TestRawWatermillCountsEveryRecordAndStoresThemWithHeaders(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := rawCtx(t)
	topic := cfg.Topic("raw-watermill")
	res, err := RawWatermill(ctx, cfg, topic, rawSizes, rawN)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, "watermill", rawN, rawSizes)
	checkTopic(t, ctx, cfg, topic, rawN, rawSizes, true)
	checkConsume(t, ctx, cfg, []string{topic}, rawN, res.Bytes)
}

func TestRawConsumeReadsSeveralTopicsWholeAndEmptyOnes(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := rawCtx(t)
	a, b, empty := cfg.Topic("raw-a"), cfg.Topic("raw-b"), cfg.Topic("raw-empty")
	ra, err := RawSarama(ctx, cfg, a, []int{10}, 300)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := RawSarama(ctx, cfg, b, []int{0, 50}, 101)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRaw(ctx, cfg, empty, []int{1}, 1); err != nil { // creates it
		t.Fatal(err)
	}
	checkConsume(t, ctx, cfg, []string{a, b, empty}, 401, ra.Bytes+rb.Bytes)
	checkConsume(t, ctx, cfg, []string{empty}, 0, 0)
	if _, err := RawConsume(ctx, cfg, []string{cfg.Topic("raw-missing")}); err == nil {
		t.Error("RawConsume of a missing topic: no error")
	}
}

func TestRawRefusesBadInputBeforeConnecting(t *testing.T) {
	cfg := bus.Config{Brokers: []string{"127.0.0.1:1"}} // nothing listens: input is checked first
	ctx := rawCtx(t)
	for name, c := range map[string]struct {
		sizes []int
		n     int
	}{
		"no records":       {[]int{10}, 0},
		"negative records": {[]int{10}, -1},
		"no sizes":         {nil, 10},
		"negative size":    {[]int{10, -1}, 10},
	} {
		if _, err := RawSarama(ctx, cfg, "raw", c.sizes, c.n); err == nil {
			t.Errorf("RawSarama %s: no error", name)
		}
		if _, err := RawWatermill(ctx, cfg, "raw", c.sizes, c.n); err == nil {
			t.Errorf("RawWatermill %s: no error", name)
		}
	}
	if _, err := RawConsume(ctx, cfg, nil); err == nil {
		t.Error("RawConsume of no topics: no error")
	}
}

// A record the producer refuses (over sarama's 1 MB MaxMessageBytes) fails
// the run at once instead of leaving it waiting for the consumer.
func TestRawProduceErrorFailsTheRun(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := rawCtx(t)
	var tooBig sarama.ConfigurationError
	if _, err := RawSarama(ctx, cfg, cfg.Topic("raw-big-s"), []int{10, 2 << 20}, 4); !errors.As(err, &tooBig) {
		t.Errorf("RawSarama of a 2 MiB record: err = %v, want a sarama.ConfigurationError", err)
	}
	if _, err := RawWatermill(ctx, cfg, cfg.Topic("raw-big-w"), []int{10, 2 << 20}, 4); !errors.As(err, &tooBig) {
		t.Errorf("RawWatermill of a 2 MiB record: err = %v, want a sarama.ConfigurationError", err)
	}
	if ctx.Err() != nil {
		t.Errorf("the failures waited for the deadline: %v", ctx.Err())
	}
}

// BenchmarkRawSarama reports the raw records/s of the broker under test;
// RAW_BENCH_RECORDS sets the records per run (default 20000).
func BenchmarkRawSarama(b *testing.B) {
	n := 20000
	if s := os.Getenv("RAW_BENCH_RECORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("RAW_BENCH_RECORDS=%q: %v", s, err)
		}
	}
	cfg := bustest.Start(b)
	ctx := rawCtx(b)
	var records, secs float64
	for i := 0; b.Loop(); i++ {
		res, err := RawSarama(ctx, cfg, cfg.Topic("raw-bench-"+strconv.Itoa(i)), []int{250, 600}, n)
		if err != nil {
			b.Fatal(err)
		}
		records += float64(res.Records)
		secs += res.Seconds
	}
	b.ReportMetric(records/secs, "records/s")
}

func rawCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func checkResult(t *testing.T, res RawResult, client string, n int, sizes []int) {
	t.Helper()
	var want int64
	for i := range n {
		want += int64(sizes[i%len(sizes)])
	}
	if res.Client != client || res.Records != n || res.Bytes != want {
		t.Errorf("result %+v, want client %q, %d records, %d bytes", res, client, n, want)
	}
	if res.Seconds <= 0 || math.Abs(res.RecordsPerSec-float64(res.Records)/res.Seconds) > 1e-9*res.RecordsPerSec {
		t.Errorf("result %+v: want seconds > 0 and records/s = records/seconds", res)
	}
}

// checkTopic reads topic back: n records, each key's records in order with
// record i's value size, on the partition its key hashes to, with the 8
// headers (the id a fresh UUID per record when it came through watermill).
func checkTopic(t *testing.T, ctx context.Context, cfg bus.Config, topic string, n int, sizes []int, uuids bool) {
	t.Helper()
	parts, err := bus.PartitionCount(ctx, cfg, topic)
	if err != nil {
		t.Fatal(err)
	}
	nextOfKey := map[int]int{}
	ids := map[string]bool{}
	err = bus.ReadAll(ctx, cfg, topic, func(r bus.Record) error {
		k, err := strconv.Atoi(string(r.Key))
		if err != nil {
			return err
		}
		i := k*rawKeyRecords + nextOfKey[k]
		nextOfKey[k]++
		if got, want := len(r.Value), sizes[i%len(sizes)]; got != want || nextOfKey[k] > rawKeyRecords {
			t.Errorf("record %d (key %d): %d bytes, want %d", i, k, got, want)
		}
		if want := bus.PartitionFor(string(r.Key), parts); r.Partition != want {
			t.Errorf("key %d on partition %d, want %d", k, r.Partition, want)
		}
		checkHeaders(t, r.Headers, uuids)
		ids[r.Headers["id"]] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got int
	for _, c := range nextOfKey {
		got += c
	}
	if got != n || len(nextOfKey) != (n+rawKeyRecords-1)/rawKeyRecords {
		t.Errorf("read %d records of %d keys, want %d records", got, len(nextOfKey), n)
	}
	if uuids && len(ids) != n {
		t.Errorf("%d distinct ids among %d records", len(ids), n)
	}
}

func checkHeaders(t *testing.T, h map[string]string, uuids bool) {
	t.Helper()
	if len(h) != len(rawHeaders) {
		t.Errorf("%d headers, want %d: %v", len(h), len(rawHeaders), h)
	}
	for _, w := range rawHeaders {
		k := string(w.Key)
		if uuids && k == "id" {
			if _, err := uuid.Parse(h[k]); err != nil {
				t.Errorf("header id %q: %v", h[k], err)
			}
		} else if h[k] != string(w.Value) {
			t.Errorf("header %s = %q, want %q", k, h[k], w.Value)
		}
	}
}

func checkConsume(t *testing.T, ctx context.Context, cfg bus.Config, topics []string, n int, bytes int64) {
	t.Helper()
	res, err := RawConsume(ctx, cfg, topics)
	if err != nil {
		t.Fatal(err)
	}
	if res.Client != "sarama-consume" || res.Records != n || res.Bytes != bytes || res.Seconds < 0 {
		t.Errorf("RawConsume %v = %+v, want %d records of %d bytes", topics, res, n, bytes)
	}
}
