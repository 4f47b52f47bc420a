package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
)

// A record in the saga log that names the awaited saga but does not check
// is neither obeyed nor dropped unseen: the wait logs it with its place and
// names it in the error it ends with. Another saga's records are not its
// business.
func TestWaitReportsUnreadableRecordsOfItsSaga(t *testing.T) {
	cfg, _, pub := newTestClient(t)
	var logs bustest.LogBuffer
	ctx := context.Background()
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()), client.WithLog(zerolog.New(&logs)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	const saga = "0599a60d-1494-5901-ae2d-f0a6497e1e2a"
	broken := message.NewMessage("evt-broken", []byte(`{"definition":`))
	broken.Metadata.Set(events.HeaderType, string(events.SagaStarted))
	broken.Metadata.Set(events.HeaderVersion, "1")
	broken.Metadata.Set(events.HeaderSagaID, saga)
	other := message.NewMessage("evt-other", []byte(`not json`))
	other.Metadata.Set(events.HeaderType, string(events.SagaStarted))
	other.Metadata.Set(events.HeaderVersion, "1")
	other.Metadata.Set(events.HeaderSagaID, "11111111-1111-5111-8111-111111111111")
	if err := pub.Publish(cfg.Topic(events.TopicSagaLog), broken, other); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.Wait(wctx, saga)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait ended with %v (view %+v), want the deadline", err, v)
	}
	if !strings.Contains(err.Error(), "1 record(s) of saga "+saga+" in "+events.TopicSagaLog+" could not be read") {
		t.Errorf("error %q does not name the unreadable record", err)
	}
	if v.Status != "" {
		t.Errorf("the broken start was obeyed: %+v", v)
	}
	out := logs.String()
	if strings.Count(out, "skipped a record that does not check") != 1 {
		t.Errorf("want the saga's unreadable record logged, and the other saga's left to its own readers, got:\n%s", out)
	}
	if !strings.Contains(out, `"topic":"`+cfg.Topic(events.TopicSagaLog)+`"`) || !strings.Contains(out, `"offset":`) {
		t.Errorf("log lines lack the record's place:\n%s", out)
	}
}
