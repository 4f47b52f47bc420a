package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const liteFile = `name: book-ticket-lite
data: booking
steps:
  - {name: VerifyUser, service: user, command: VerifyUser, key: user_id}
  - {name: ReserveSeats, service: booking, command: ReserveSeats, compensation: ReleaseSeats, key: show_id}
  - {name: ChargePayment, service: payment, command: ChargePayment, compensation: RefundPayment, key: booking_ref, secrets: [payment_token]}
  - {name: ConfirmBooking, service: booking, command: ConfirmBooking, key: show_id, pivot: true}
timeout: 10s
retry: {max_attempts: 3, backoff: 500ms, max_backoff: 10s}
compensation_retry: {max_attempts: 20, backoff: 1s, max_backoff: 5m}
`

type appliedOut struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Current   bool   `json:"current"`
	Published *bool  `json:"published"`
	Steps     []struct {
		Name string `json:"name"`
	} `json:"steps"`
}

// A definition written in a file, never compiled into the product, is
// applied, listed with its version, shown, compared with another, booked
// on to completion with inspect naming its version; a bad one is refused
// with every problem named; a dry run over the real log reports where an
// edit would decide otherwise.
func TestDefinitionsFromAFile(t *testing.T) {
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		t.Skipf("KAFKA_BROKERS=%s is set: this test needs a broker of its own", env)
	}
	brokers := startSystem(t)
	saga := func(args ...string) result {
		t.Helper()
		return cliWithin(t, 60*time.Second, append([]string{"--brokers", brokers}, args...)...)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lite := write("lite.yaml", liteFile)

	first := decodeJSON[appliedOut](t, saga("definitions", "apply", "-f", lite, "--as", "ana", "-o", "json"))
	if first.Name != "book-ticket-lite" || len(first.Version) != 12 || first.Published == nil || !*first.Published || len(first.Steps) != 4 {
		t.Fatalf("apply: %+v", first)
	}
	if again := decodeJSON[appliedOut](t, saga("definitions", "apply", "-f", lite, "-o", "json")); *again.Published || again.Version != first.Version {
		t.Fatalf("apply again: %+v", again)
	}
	rec := decodeJSON[receipt](t, saga("book", "--definition", "book-ticket-lite", "--user", "alice", "--show", "show-1", "--seats", "1",
		"--payment-token", "tok_ok", "--wait", "30s", "-o", "json"))
	if rec.Status != "completed" {
		t.Fatalf("a booking on the applied definition: %+v", rec)
	}
	var v struct {
		Definition        string `json:"definition"`
		DefinitionVersion string `json:"definition_version"`
		Steps             []struct {
			Name, Status string
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(saga("inspect", rec.BookingRef, "-o", "json").wantOK(t)), &v); err != nil {
		t.Fatal(err)
	}
	if v.Definition != "book-ticket-lite" || v.DefinitionVersion != first.Version || len(v.Steps) != 4 || v.Steps[3].Name != "ConfirmBooking" {
		t.Fatalf("inspect: %+v", v)
	}
	list := decodeJSON[[]appliedOut](t, saga("definitions", "list", "-o", "json"))
	found, shipped := false, false
	for _, v := range list {
		found = found || (v.Name == first.Name && v.Version == first.Version && v.Current && len(v.Steps) == 4)
		shipped = shipped || (v.Name == "book-ticket" && len(v.Steps) == 5)
	}
	// The orchestrator, which has run a saga by now, registered those it ships.
	if !found || !shipped {
		t.Fatalf("list has %d definitions, the applied one %v: %+v", len(list), found, list)
	}

	text := saga("inspect", rec.BookingRef).wantOK(t)
	if !strings.Contains(text, "definition_version: "+first.Version) {
		t.Errorf("inspect as text lacks the version:\n%s", text)
	}
	saga("book", "--definition", "no-such-thing", "--user", "alice", "--show", "show-1", "--seats", "1", "--payment-token", "tok_ok").
		wantFailure(t, exitUsage, `unknown definition "no-such-thing"`)

	bad := write("bad.yaml", `name: broken
steps:
  - {name: A, service: hotel, command: ReserveRoom}
  - {name: B, service: booking, command: ConfirmBooking, pivot: true}
  - {name: B, service: payment, command: ChargePayment, compensation: RefundPayment, key: card}
`)
	saga("definitions", "apply", "-f", bad).wantFailure(t, exitUsage, `unknown service "hotel"`, `step name "B" is used twice`,
		`comes after the pivot and cannot have a compensation`, `key field "card" is not in the saga's data`)
	saga("definitions", "apply", "-f", filepath.Join(dir, "missing.yaml")).wantFailure(t, exitUsage, "missing.yaml")

	// The same version replays as recorded; an edit that adds a step
	// after the charge decides otherwise there.
	same := saga("definitions", "dry-run", "-f", lite, "-o", "json")
	var report struct {
		Sagas, Diverged int
		Reports         []struct {
			Diverged *struct {
				Decision int
				Input    string
				Replayed []string
			}
		}
	}
	if err := json.Unmarshal([]byte(same.wantOK(t)), &report); err != nil || report.Sagas != 1 || report.Diverged != 0 {
		t.Fatalf("dry run of the same version: %+v (%v)\n%s", report, err, same.stdout)
	}
	edited := write("edited.yaml", strings.Replace(liteFile, "  - {name: ConfirmBooking",
		"  - {name: Notify, service: notification, command: SendNotification, key: user_id}\n  - {name: ConfirmBooking", 1))
	differs := saga("definitions", "dry-run", "-f", edited, "-o", "json")
	if differs.code != exitError || json.Unmarshal([]byte(differs.stdout), &report) != nil || report.Diverged != 1 {
		t.Fatalf("dry run of an edit: exit %d, %+v\n%s\n%s", differs.code, report, differs.stdout, differs.stderr)
	}
	if d := report.Reports[0].Diverged; d == nil || d.Decision != 4 || !strings.Contains(strings.Join(d.Replayed, " "), "Notify") {
		t.Fatalf("the divergence: %+v", d)
	}

	second := decodeJSON[appliedOut](t, saga("definitions", "apply", "-f", edited, "-o", "json"))
	diff := saga("definitions", "diff", "book-ticket-lite", first.Version[:6], second.Version).wantOK(t)
	if !strings.Contains(diff, "+ step Notify (notification.SendNotification) added, after ChargePayment") {
		t.Errorf("diff:\n%s", diff)
	}
	shown := saga("definitions", "show", "book-ticket-lite", "--version", first.Version).wantOK(t)
	if !strings.Contains(shown, "version "+first.Version) || strings.Contains(shown, "Notify") {
		t.Errorf("show of the first version:\n%s", shown)
	}
	all := decodeJSON[[]appliedOut](t, saga("definitions", "list", "--all", "-o", "json"))
	n := 0
	for _, v := range all {
		if v.Name == "book-ticket-lite" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("list --all has %d versions of book-ticket-lite, want 2", n)
	}
}
