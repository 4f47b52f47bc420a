package bus_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

const (
	restartTopic = "restart"
	restartGroup = "projector"
	restartTotal = 5
	restartAcked = 3
)

// fillAndCommit provisions a one-partition topic, writes restartTotal
// records, and has a consumer group ack (and so commit) the first
// restartAcked of them.
func fillAndCommit(t testing.TB, cfg bus.Config) {
	t.Helper()
	provision(t, cfg, bus.TopicSpec{Name: restartTopic, Partitions: 1})
	topic := cfg.Topic(restartTopic)
	var msgs []*message.Message
	for i := range restartTotal {
		msgs = append(msgs, keyed("saga-1", fmt.Sprintf("r%d", i)))
	}
	publish(t, cfg, topic, msgs...)

	sub, err := bus.NewSubscriber(cfg, restartGroup, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch, restartAcked, 30*time.Second)
	bustest.Eventually(t, 10*time.Second, func() (bool, string) {
		c := committed(t, cfg, cfg.Group(restartGroup), topic, 0)
		return c == restartAcked, fmt.Sprintf("committed %d, want %d", c, restartAcked)
	})
}

// checkSurvived asserts the records and the committed offset are back, and
// that the group resumes right after what it acked.
func checkSurvived(t *testing.T, cfg bus.Config) {
	t.Helper()
	topic := cfg.Topic(restartTopic)
	recs := readAll(t, cfg, topic)
	if got := strings.Join(payloads(recs), ","); got != "r0,r1,r2,r3,r4" {
		t.Fatalf("records after restart: %s", got)
	}
	if c := committed(t, cfg, cfg.Group(restartGroup), topic, 0); c != restartAcked {
		t.Fatalf("committed offset after restart = %d, want %d", c, restartAcked)
	}
	sub, err := bus.NewSubscriber(cfg, restartGroup, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if m := receive(t, ch, 1, 30*time.Second)[0]; string(m.Payload) != "r3" {
		t.Fatalf("group resumed at %q, want r3", m.Payload)
	}
}

func TestEmbeddedRestartKeepsRecordsAndOffsets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := bus.Config{Namespace: bustest.Namespace()}

	first := bustest.StartEmbedded(t, dir)
	cfg.Brokers = first.Addrs()
	fillAndCommit(t, cfg)
	first.Close()

	second := bustest.StartEmbedded(t, dir)
	cfg.Brokers = second.Addrs()
	checkSurvived(t, cfg)
}

// TestEmbeddedSurvivesKill9 runs the writer in a child process and kills
// it with SIGKILL (no Close, no shutdown save), then restarts on its dir.
func TestEmbeddedSurvivesKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	ns := bustest.Namespace()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "BUS_KILL_CHILD_DIR="+dir, "BUS_KILL_CHILD_NS="+ns, bustest.EnvBrokers+"=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if sc.Text() == "CHILD READY" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("child exited before it was ready:\n%s", log.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("child not ready within 60s")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on unix
		t.Fatal(err)
	}
	_ = cmd.Wait()

	emb := bustest.StartEmbedded(t, dir)
	checkSurvived(t, bus.Config{Brokers: emb.Addrs(), Namespace: ns})
}

// TestEmbeddedKillChild is the child half of TestEmbeddedSurvivesKill9.
func TestEmbeddedKillChild(t *testing.T) {
	dir := os.Getenv("BUS_KILL_CHILD_DIR")
	if dir == "" {
		t.Skip("only runs as the child of TestEmbeddedSurvivesKill9")
	}
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fillAndCommit(t, bus.Config{Brokers: emb.Addrs(), Namespace: os.Getenv("BUS_KILL_CHILD_NS")})
	fmt.Println("CHILD READY")
	select {} // wait for SIGKILL; never Close
}

func TestEmbeddedListensOnlyWhereTold(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), ListenAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	if got := emb.Addrs(); len(got) != 1 || got[0] != addr {
		t.Fatalf("Addrs = %v, want [%s]", got, addr)
	}
	if err := bus.WaitReady(t.Context(), emb.Config()); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedOptionsValidate(t *testing.T) {
	t.Parallel()
	_, err := bus.StartEmbedded(bus.EmbeddedOptions{ListenAddr: "0.0.0.0:9092", Partitions: -1})
	if err == nil {
		t.Fatal("expected errors")
	}
	for _, want := range []string{"data dir", "loopback", "partitions"} {
		if !contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}

func TestEmbeddedRefusesASecondBrokerOnTheSameDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bustest.StartEmbedded(t, dir)
	if emb, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: dir}); err == nil {
		emb.Close()
		t.Fatal("second broker started on a data dir in use")
	} else if !contains(err.Error(), "in use") {
		t.Fatalf("unexpected error: %v", err)
	}
}
