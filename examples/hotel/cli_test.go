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
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/saga")
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
// hotel's user, its key and the keyring found there), saga definitions
// apply and saga book on book-ticket-with-hotel (completed; a declined card
// compensated, the room released), its dry run replaying both as recorded,
// and saga participant check --service hotel, which passes.
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

	t.Run("book-ticket-with-hotel applied, then booked", func(t *testing.T) {
		if out, err := saga("definitions", "apply", "-f", "book-ticket-with-hotel.yaml", "--as", "test").CombinedOutput(); err != nil {
			t.Fatalf("saga definitions apply: %v\n%s", err, out)
		}
		// Booked at once: an orchestrator that has not followed the catalogue
		// to the new version yet reads it again before refusing the request.
		book := func(token string) (sagaView, int) {
			t.Helper()
			cmd := saga("book", "--definition", "book-ticket-with-hotel", "--data", "nights=2", "--user", "alice", "--show", "show-1",
				"--seats", "1", "--payment-token", token, "--wait", "60s", "-o", "json")
			out, err := cmd.Output()
			code := 0
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("saga book: %v", err)
			}
			var v sagaView
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("saga book -o json printed %s: %v", out, err)
			}
			return inspect(t, saga, v.SagaID), code
		}
		booked, code := book("tok_ok")
		if code != 0 || booked.Status != "completed" || booked.steps()["ReserveRoom"] != "succeeded" || booked.DefinitionVersion == "" {
			t.Fatalf("saga book on book-ticket-with-hotel: exit %d, %+v", code, booked)
		}
		declined, code := book("tok_declined")
		if code != 3 || declined.Status != "compensated" || declined.steps()["ReserveRoom"] != "compensated" {
			t.Fatalf("saga book with a declined card: exit %d, %+v", code, declined)
		}
		// The dry run replays both sagas, the hotel's replies among their
		// inputs (each checked under its signature for the client), and
		// finds every decision as recorded.
		out, err := saga("definitions", "dry-run", "-f", "book-ticket-with-hotel.yaml", "-o", "json").Output()
		if err != nil {
			t.Fatalf("saga definitions dry-run: %v\n%s", err, out)
		}
		var dry struct{ Sagas, Diverged int }
		if err := json.Unmarshal(out, &dry); err != nil || dry.Sagas != 2 || dry.Diverged != 0 {
			t.Fatalf("saga definitions dry-run -o json printed %s (%v)", out, err)
		}
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

// sagaView is what the test reads of saga inspect -o json.
type sagaView struct {
	SagaID            string `json:"saga_id"`
	Definition        string `json:"definition"`
	DefinitionVersion string `json:"definition_version"`
	Status            string `json:"status"`
	Steps             []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"steps"`
}

func (v sagaView) steps() map[string]string {
	out := map[string]string{}
	for _, s := range v.Steps {
		out[s.Name] = s.Status
	}
	return out
}

// inspect reads a saga as saga inspect -o json shows it.
func inspect(t *testing.T, saga func(...string) *exec.Cmd, id string) sagaView {
	t.Helper()
	out, err := saga("inspect", id, "-o", "json").Output()
	if err != nil {
		t.Fatalf("saga inspect %s: %v\n%s", id, err, out)
	}
	var v sagaView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("saga inspect -o json printed %s: %v", out, err)
	}
	return v
}
