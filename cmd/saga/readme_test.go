package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
)

// readmeStep is one command of the README's session and what the README
// says it prints.
type readmeStep struct {
	line   string
	args   []string
	jq     bool
	fields map[string]string // "key:" lines of stdout
	exit   int
}

var readmeExit = regexp.MustCompile(`^\(exit status (\d+)`)

// readmeSession reads the commands of the session in the README, in order.
func readmeSession(t *testing.T) []readmeStep {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	at := strings.Index(text, "In a second terminal:\n\n```sh\n")
	if at < 0 {
		t.Fatal("README has no session after \"In a second terminal:\"")
	}
	block := text[at+len("In a second terminal:\n\n```sh\n"):]
	block = block[:strings.Index(block, "```")]
	var steps []readmeStep
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "./bin/saga "):
			cmd := strings.TrimPrefix(line, "./bin/saga ")
			st := readmeStep{line: line, fields: map[string]string{}}
			if i := strings.Index(cmd, " #"); i >= 0 {
				cmd = cmd[:i]
			}
			if i := strings.Index(cmd, " | jq"); i >= 0 {
				cmd, st.jq = cmd[:i], true
			}
			st.args = strings.Fields(cmd)
			steps = append(steps, st)
		case strings.HasPrefix(line, "# ") && len(steps) > 0:
			c := strings.TrimPrefix(line, "# ")
			last := &steps[len(steps)-1]
			if m := readmeExit.FindStringSubmatch(c); m != nil {
				last.exit, _ = strconv.Atoi(m[1])
			} else if k, v, ok := strings.Cut(c, ":"); ok {
				last.fields[k] = strings.TrimSpace(v)
			}
		}
	}
	if len(steps) < 5 {
		t.Fatalf("README session has %d commands", len(steps))
	}
	return steps
}

// The README's session runs as written: each command exits as the README
// says, and prints the fields it shows (saga ids and references are
// derived from the idempotency keys, so they are the README's exactly).
func TestReadmeSession(t *testing.T) {
	emb := bustest.StartEmbedded(t, t.TempDir())
	cfg := bus.Config{Brokers: emb.Addrs(), Namespace: bustest.Namespace()}
	dataDir := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: trusted(cfg, ""), Keys: testKeys, Log: log, SeedShows: true, ReadModel: filepath.Join(dataDir, readmodel.FileName)})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	}()
	t.Setenv("SAGA_NAMESPACE", cfg.Namespace)
	for _, st := range readmeSession(t) {
		r := cliWithin(t, 60*time.Second, append([]string{"--brokers", strings.Join(emb.Addrs(), ","), "--data-dir", dataDir}, st.args...)...)
		if r.code != st.exit {
			t.Fatalf("%s: exit %d, the README says %d (stderr %q)", st.line, r.code, st.exit, r.stderr)
		}
		if st.exit != 0 && !strings.HasPrefix(r.stderr, "saga: ") {
			t.Errorf("%s: stderr %q, want one line saying why", st.line, r.stderr)
		}
		for k, v := range st.fields {
			if !strings.Contains(r.stdout, k+": ") {
				t.Errorf("%s: stdout has no %q line:\n%s", st.line, k, r.stdout)
				continue
			}
			if got := fieldOf(r.stdout, k); got != v {
				t.Errorf("%s: %s is %q, the README says %q", st.line, k, got, v)
			}
		}
		if st.jq {
			for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				var rec struct {
					Type string `json:"type"`
				}
				if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Type == "" {
					t.Errorf("%s: a line jq cannot read .type of: %q", st.line, l)
				}
			}
		}
	}
}

func fieldOf(out, key string) string {
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// The README's python3 line gives the ids the product derives.
func TestReadmeDerivesIDs(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := events.SagaIDFor("order-1001") + " " + events.BookingRefFor(events.SagaIDFor("order-1001"))
	if !strings.Contains(string(raw), "print(s, \"BK-\"+base64.b32encode(s.bytes[:5]).decode())' order-1001\n# "+want+"\n") {
		t.Errorf("README's python3 example does not print %q", want)
	}
}
