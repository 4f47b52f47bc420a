package hotel_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sagaflow/saga/bus/bustest"
)

// buildSaga builds the saga binary into the test's directory.
func buildSaga(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "saga")
	build := exec.Command("go", "build", "-o", bin, "./cmd/saga")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/saga: %v\n%s", err, out)
	}
	return bin
}

// localEnv is this process's environment without what would point saga or
// the hotel elsewhere than the data directory's embedded broker and keys.
func localEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "KAFKA_") || strings.HasPrefix(name, "SAGA_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// process is a subprocess the test stops with SIGTERM at its end.
func process(t *testing.T, name string, cmd *exec.Cmd) *bustest.LogBuffer {
	t.Helper()
	logs := &bustest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			t.Logf("%s said:\n%s", name, logs)
		}
	})
	return logs
}

// TestHotelBesideSagaUp runs the README's commands: saga up with the hotel
// declared (its embedded broker asks every part for its SCRAM user),
// hotel.py on saga's data directory alone (the broker's address, the
// hotel's user, its key and the keyring found there), and saga participant
// check --service hotel, which passes.
func TestHotelBesideSagaUp(t *testing.T) {
	py := python(t)
	bin := buildSaga(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := localEnv()
	saga := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--services", "services.yaml", "--data-dir", data}, args...)...)
		cmd.Env = env
		return cmd
	}
	process(t, "saga up", saga("up", "--listen", "127.0.0.1:0", "--http", ""))
	bustest.Eventually(t, wait, func() (bool, string) {
		for _, f := range []string{"broker.addr", "broker.auth", "broker-users.json", "keys/hotel.key"} {
			if _, err := os.Stat(filepath.Join(data, f)); err != nil {
				return false, "saga up has not written " + f
			}
		}
		return true, ""
	})
	hotelCmd := exec.Command(py, "hotel.py", "--data-dir", data, "--db", filepath.Join(dir, "hotel.db"))
	hotelCmd.Env = env
	hotelLogs := process(t, "hotel.py", hotelCmd)
	bustest.Eventually(t, wait, func() (bool, string) {
		return strings.Contains(hotelLogs.String(), "consuming "), "the hotel has no partitions yet"
	})

	check := saga("participant", "check", "--service", "hotel", "-o", "json")
	out, err := check.Output()
	if err != nil {
		t.Fatalf("saga participant check --service hotel: %v\n%s", err, out)
	}
	var rep struct {
		Service string `json:"service"`
		Results []struct{ Rule, Result, Detail string }
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("saga participant check -o json printed %s: %v", out, err)
	}
	if rep.Service != hotel || len(rep.Results) == 0 {
		t.Fatalf("saga participant check -o json printed %s", out)
	}
	for _, r := range rep.Results {
		if r.Result != "pass" {
			t.Errorf("rule %q: %s (%s)", r.Rule, r.Result, r.Detail)
		}
	}
}
