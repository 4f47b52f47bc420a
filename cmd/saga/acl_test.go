package main

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
)

// The embedded broker keeps ACLs (it does not enforce them), which is
// all apply and check need; TestKafkaACLs in bus shows Apache Kafka
// enforcing them.
func TestACLCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	brokers, cfg, _ := quietBroker(t)
	saga := func(args ...string) result {
		return cliWithin(t, 30*time.Second, append([]string{"--brokers", brokers}, args...)...)
	}
	want := bus.ACLsFor(cfg, nil)
	lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

	r := saga("acl", "check")
	if r.code != exitError || !strings.Contains(r.stderr, "missing") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("check of a cluster without ACLs: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := lines(r.stdout); len(got) != len(want) || got[0] != "missing "+want[0].String() {
		t.Errorf("check lists %d lines, want %d missing; first %q", len(got), len(want), got[0])
	}

	out := saga("acl", "apply", "--dry-run").wantOK(t)
	if got := lines(out); len(got) != len(want) || got[0] != "would create "+want[0].String() {
		t.Errorf("dry run: %d lines, want %d; first %q", len(got), len(want), got[0])
	}
	if r := saga("acl", "check"); r.code != exitError {
		t.Errorf("a dry run created ACLs: check exits %d", r.code)
	}

	out = saga("acl", "apply").wantOK(t)
	if got := lines(out); len(got) != len(want) || got[len(got)-1] != "created "+want[len(want)-1].String() {
		t.Errorf("apply: %d lines, want %d:\n%s", len(got), len(want), out)
	}
	if out := saga("acl", "check").wantOK(t); !strings.HasPrefix(out, "ACLs in place") {
		t.Errorf("check after apply: %q", out)
	}
	if out := saga("acl", "apply").wantOK(t); !strings.HasPrefix(out, "nothing to create") {
		t.Errorf("second apply: %q", out)
	}

	// Renaming a user: the new one's grants are missing; the old user is
	// no principal's any more, so its grants are none of check's business.
	r = saga("-o", "json", "acl", "check", "--sasl-users", "payment=svc-payment")
	var rep struct {
		Missing []aclOut `json:"missing"`
		Excess  []aclOut `json:"excess"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitError {
		t.Fatalf("check -o json with a renamed user: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(rep.Missing) != 11 || rep.Missing[0].Principal != "User:svc-payment" || len(rep.Excess) != 0 {
		t.Errorf("renamed payment user: %d missing (first %+v), %d excess; want payment's 11 missing, none excess", len(rep.Missing), rep.Missing, len(rep.Excess))
	}

	// The users of the credentials file, unless --sasl-users says otherwise.
	creds := writeCredentials(t, `{"payment": {"user": "svc-payment", "password": "p"}}`, 0o600)
	r = saga("-o", "json", "acl", "check", "--sasl-credentials", creds)
	rep.Missing, rep.Excess = nil, nil
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Missing) != 11 || rep.Missing[0].Principal != "User:svc-payment" {
		t.Errorf("check with a credentials file: exit %d, %v, missing %+v", r.code, err, rep.Missing)
	}
	if out := saga("acl", "check", "--sasl-credentials", creds, "--sasl-users", "payment=payment").wantOK(t); !strings.HasPrefix(out, "ACLs in place") {
		t.Errorf("--sasl-users over the credentials file: %q", out)
	}

	saga("acl", "check", "--sasl-users", "paymnt=x").wantFailure(t, exitUsage, `unknown principal "paymnt"`)
	saga("acl", "apply", "extra").wantFailure(t, exitUsage, `"extra"`)
}

func TestParseSASLUsers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{"payment=svc-payment, client=api", map[string]string{"payment": "svc-payment", "client": "api"}, ""},
		{"payment", nil, "not principal=user"},
		{"payment=", nil, "not principal=user"},
		{"nobody=x", nil, "unknown principal"},
		{"payment=a,payment=b", nil, "mapped twice"},
	} {
		got, err := parseSASLUsers(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want %q", c.in, err, c.err)
		case c.err == "" && (err != nil || !maps.Equal(got, c.want)):
			t.Errorf("%q: %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
