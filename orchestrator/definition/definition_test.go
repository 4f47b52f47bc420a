package definition_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/orchestrator/definition"
)

const lite = `
name: book-ticket-lite
steps:
  - {name: VerifyUser, service: user, command: VerifyUser, key: user_id}
  - {name: ReserveSeats, service: booking, command: ReserveSeats, compensation: ReleaseSeats, key: show_id}
  - {name: ChargePayment, service: payment, command: ChargePayment, compensation: RefundPayment, key: booking_ref}
  - {name: ConfirmBooking, service: booking, command: ConfirmBooking, key: show_id, pivot: true}
timeout: 10s
retry: {max_attempts: 3, backoff: 500ms, max_backoff: 10s}
compensation_retry: {max_attempts: 20, backoff: 1s, max_backoff: 5m}
data: booking
`

func TestCompileTheIssueExample(t *testing.T) {
	s, err := definition.Parse([]byte(lite))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "book-ticket-lite" || len(d.Steps) != 4 || !d.Steps[3].Pivot || d.Steps[1].Compensation != "ReleaseSeats" {
		t.Fatalf("compiled %+v", d)
	}
	if d.Steps[0].Timeout != 10*time.Second || d.Steps[0].Retry.MaxAttempts != 3 || d.CompensationRetry.MaxAttempts != 20 ||
		d.CompensationRetry.MaxBackoff != 5*time.Minute {
		t.Fatalf("timings %+v / %+v", d.Steps[0], d.CompensationRetry)
	}
	if len(d.Version) != 12 || d.Version != s.Version() || string(d.Spec) != string(s.Compact()) {
		t.Fatalf("version %q spec %s", d.Version, d.Spec)
	}
	if d.ValidateData([]byte(`{"user_id":"u","show_id":"s","seats":1,"payment_token":"t"}`)) != nil ||
		d.ValidateData([]byte(`{"user_id":"u"}`)) == nil {
		t.Fatal("the booking data check is not applied")
	}
}

// Every problem of a definition is named at once, each with its step.
func TestCompileNamesEveryProblem(t *testing.T) {
	bad := `
name: "bad name!"
data: nonsense
steps:
  - {name: A, service: hotel, command: ReserveRoom}
  - {name: B, service: booking, command: Launch, compensation: Unlaunch}
  - {name: B, service: booking, command: ReserveSeats, key: venue_id}
  - {name: P, service: booking, command: ConfirmBooking, pivot: true}
  - {name: C, service: payment, command: ChargePayment, compensation: RefundPayment, secrets: [pin]}
  - {name: Notify, service: notification, command: SendNotification, secrets: [payment_token]}
  - {service: user}
`
	s, err := definition.Parse([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Compile(definition.BuiltinServices())
	if err == nil {
		t.Fatal("a bad definition compiled")
	}
	for _, want := range []string{
		`name "bad name!" must be`,
		`data "nonsense" is not a known data check`,
		`step "A": unknown service "hotel"`,
		`step "B": service "booking" has no command "Launch"`,
		`step "B": service "booking" has no command "Unlaunch" to compensate with`,
		`step "B": key field "venue_id" is not in the saga's data`,
		`step name "B" is used twice`,
		`step "C" comes after the pivot and cannot have a compensation`,
		`step "C": "pin" is not a secret field`,
		`step "Notify": payment_token goes to the payment service alone, not to "notification"`,
		`step 7: a command is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

func TestServicesDeclaredElsewhereAreKnown(t *testing.T) {
	s, err := definition.Parse([]byte(`{"name":"stay","required":["booking_ref","nights"],"steps":[{"name":"ReserveRoom","service":"hotel","command":"ReserveRoom","compensation":"ReleaseRoom","key":"booking_ref"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compile(definition.BuiltinServices()); err == nil || !strings.Contains(err.Error(), `unknown service "hotel"`) {
		t.Fatalf("hotel is not declared, got %v", err)
	}
	d, err := s.Compile(definition.BuiltinServices().With("hotel", "ReserveRoom", "ReleaseRoom"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ValidateData([]byte(`{"booking_ref":"BK-1"}`)); err == nil || !strings.Contains(err.Error(), "nights is required") {
		t.Fatalf("required fields unchecked: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, raw := range map[string]string{
		"unknown field":     "name: x\nsteps: []\ncompensaton: y\n",
		"a bare number":     "name: x\ntimeout: 10\n",
		"a bad duration":    "name: x\ntimeout: ten seconds\n",
		"not a mapping":     "- a\n- b\n",
		"not YAML":          "name: [x\n",
		"a step field typo": "name: x\nsteps:\n  - {name: a, servce: user}\n",
		"too large":         "name: x\ndescription: " + strings.Repeat("a", 1<<20) + "\n",
	} {
		if _, err := definition.Parse([]byte(raw)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// The version is the content: the same meaning has the same version
// however it is written, and any change makes another.
func TestVersionIsTheContent(t *testing.T) {
	parse := func(raw string) string {
		t.Helper()
		s, err := definition.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return s.Version()
	}
	base := parse(lite)
	same := parse(`{"name":"book-ticket-lite","data":"booking","timeout":"10s",
		"retry":{"max_attempts":3,"backoff":"500ms","max_backoff":"10s"},
		"compensation_retry":{"max_attempts":20,"backoff":"1s","max_backoff":"5m0s"},
		"steps":[{"name":"VerifyUser","service":"user","command":"VerifyUser","key":"user_id"},
		{"name":"ReserveSeats","service":"booking","command":"ReserveSeats","compensation":"ReleaseSeats","key":"show_id"},
		{"name":"ChargePayment","service":"payment","command":"ChargePayment","compensation":"RefundPayment","key":"booking_ref"},
		{"name":"ConfirmBooking","service":"booking","command":"ConfirmBooking","key":"show_id","pivot":true,"timeout":"10s"}]}`)
	if same != base {
		t.Errorf("the same definition as JSON has version %s, as YAML %s", same, base)
	}
	changed := parse(strings.Replace(lite, "timeout: 10s", "timeout: 11s", 1))
	if changed == base {
		t.Error("a changed timeout kept the version")
	}
	if parse(strings.Replace(lite, "max_attempts: 3", "max_attempts: 4", 1)) == base {
		t.Error("a changed retry kept the version")
	}
}

func TestLoggedSpecCompilesWithoutItsServices(t *testing.T) {
	s, err := definition.Parse([]byte(`{"name":"stay","steps":[{"name":"ReserveRoom","service":"hotel","command":"ReserveRoom"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := definition.FromLog(s.Canonical())
	if err != nil || d.Version != s.Version() {
		t.Fatalf("from the log: %+v, %v", d, err)
	}
}

// Definition files are untrusted input: nothing panics, and what compiles
// has a version that is its content.
func FuzzParseCompile(f *testing.F) {
	f.Add([]byte(lite))
	f.Add([]byte(`{"name":"x","steps":[{"name":"a","service":"user","command":"VerifyUser","timeout":"1s"}]}`))
	f.Add([]byte("name: x\nsteps: [{name: a}]\nretry: {max_attempts: 0}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := definition.Parse(raw)
		if err != nil {
			return
		}
		d, err := s.Compile(definition.BuiltinServices())
		if err != nil {
			return
		}
		again, err := definition.FromLog(d.Spec)
		if err != nil || again.Version != d.Version {
			t.Fatalf("a compiled definition does not read back from its canonical form: %v (%s vs %s)", err, again.Version, d.Version)
		}
	})
}

func TestDiffNamesEachChange(t *testing.T) {
	a, err := definition.Parse([]byte(lite))
	if err != nil {
		t.Fatal(err)
	}
	if d := definition.Diff(a, a); len(d) != 0 {
		t.Fatalf("a definition differs from itself: %v", d)
	}
	edited := strings.NewReplacer(
		"  - {name: ChargePayment", "  - {name: ReserveRoom, service: hotel, command: ReserveRoom, compensation: ReleaseRoom, key: booking_ref}\n  - {name: ChargePayment",
		"  - {name: VerifyUser, service: user, command: VerifyUser, key: user_id}\n", "",
		"{name: ConfirmBooking, service: booking, command: ConfirmBooking, key: show_id, pivot: true}", "{name: ConfirmBooking, service: booking, command: ConfirmBooking, key: show_id, pivot: true, timeout: 30s}",
		"max_attempts: 20", "max_attempts: 25",
	).Replace(lite)
	b, err := definition.Parse([]byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(definition.Diff(a, b), "\n")
	for _, want := range []string{
		`+ step ReserveRoom (hotel.ReserveRoom) added, after ReserveSeats`,
		`- step VerifyUser (user.VerifyUser) removed`,
		`~ step ConfirmBooking: timeout: "10s" -> "30s"`,
		`~ compensation_retry: {"max_attempts":20,`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the diff does not say %q:\n%s", want, got)
		}
	}
}

func TestBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: long\nsteps:\n")
	for i := range definition.MaxSteps + 1 {
		b.WriteString("  - {name: S" + strings.Repeat("x", 600) + string(rune('a'+i%26)) + strings.Repeat("y", i) + ", service: user, command: VerifyUser}\n")
	}
	s, err := definition.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Compile(definition.BuiltinServices())
	if err == nil || !strings.Contains(err.Error(), "steps: at most") || !strings.Contains(err.Error(), "bytes as JSON: at most") {
		t.Fatalf("a definition past the bounds: %v", err)
	}
}

// The compact form the log carries reads as the file does: its normal
// form, and so its version, are the file's; and it is smaller.
func TestCompactReadsTheSame(t *testing.T) {
	for name, raw := range map[string]string{
		"the issue's example": lite,
		"a step of its own":   strings.Replace(lite, "key: show_id, pivot: true}", "key: show_id, pivot: true, timeout: 30s, retry: {max_attempts: 9}}", 1),
		"all defaults":        "name: x\nsteps:\n  - {name: a, service: user, command: VerifyUser}\n",
	} {
		s, err := definition.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		back, err := definition.Parse(s.Compact())
		if err != nil {
			t.Fatal(err)
		}
		if back.Version() != s.Version() || string(back.Canonical()) != string(s.Canonical()) {
			t.Errorf("%s: compact %s reads as %s, want %s", name, s.Compact(), back.Canonical(), s.Canonical())
		}
		if len(s.Compact()) >= len(s.Canonical()) {
			t.Errorf("%s: compact is %d bytes, normal %d", name, len(s.Compact()), len(s.Canonical()))
		}
	}
}
