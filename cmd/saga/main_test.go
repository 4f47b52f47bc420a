package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// unreachable is an address where no broker listens: usage errors must be
// reported before anything tries to connect to it.
const unreachable = "127.0.0.1:1"

func TestUsageErrors(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	book := func(extra ...string) []string {
		args := []string{"--brokers", unreachable, "book"}
		return append(args, extra...)
	}
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"unknown global flag", []string{"--brokers", unreachable, "--nope", "list"}, []string{"unknown flag: --nope"}},
		{"unknown flag of a command", []string{"--brokers", unreachable, "list", "--nope"}, []string{"unknown flag: --nope"}},
		{"flag without its value", []string{"--brokers", unreachable, "list", "--status"}, []string{"flag needs an argument"}},
		{"book 0 seats", book("--user", "alice", "--show", "show-1", "--seats", "0", "--payment-token", "tok_ok"), []string{"seats must be between 1 and 10, got 0"}},
		{"book 11 seats", book("--user", "alice", "--show", "show-1", "--seats", "11", "--payment-token", "tok_ok"), []string{"seats must be between 1 and 10, got 11"}},
		{"book seats not a number", book("--user", "alice", "--show", "show-1", "--seats", "two", "--payment-token", "tok_ok"), []string{"--seats"}},
		{"book unknown user", book("--user", "zoe", "--show", "show-1", "--seats", "2", "--payment-token", "tok_ok"), []string{`unknown user "zoe"`}},
		{"book missing token", book("--user", "alice", "--show", "show-1", "--seats", "2"), []string{`required flag(s) "payment-token" not set`}},
		{"book without its required flags", book(), []string{`required flag(s) "payment-token", "seats", "show", "user" not set`}},
		{"book with every problem at once", book("--user", "", "--show", "", "--seats", "0", "--payment-token", ""), []string{"user_id is required", "show_id is required", "seats must be between", "payment_token is required"}},
		{"book negative wait", book("--user", "alice", "--show", "show-1", "--seats", "2", "--payment-token", "tok_ok", "--wait", "-1s"), []string{"--wait must not be negative"}},
		{"output yaml", []string{"--brokers", unreachable, "-o", "yaml", "list"}, []string{`--output must be text or json, got "yaml"`}},
		{"output yaml after the command", []string{"--brokers", unreachable, "list", "-o", "yaml"}, []string{`--output must be text or json, got "yaml"`}},
		{"log format xml", []string{"--brokers", unreachable, "--log-format", "xml", "list"}, []string{`--log-format must be console or json, got "xml"`}},
		{"log level loud", []string{"--brokers", unreachable, "--log-level", "loud", "list"}, []string{"--log-level must be"}},
		{"yaml and xml at once", []string{"--brokers", unreachable, "-o", "yaml", "--log-format", "xml", "list"}, []string{"--output", "--log-format"}},
		{"list unknown definition", []string{"--brokers", unreachable, "list", "--definition", "nope"}, []string{`--definition must be one of add-show, block-user, book-ticket, cancel-booking, import-user, unblock-user, user-signup, got "nope"`}},
		{"list unknown status", []string{"--brokers", unreachable, "list", "--status", "nope"}, []string{`--status must be running, compensating, completed, compensated or failed, got "nope"`}},
		{"list stuck and a status", []string{"--brokers", unreachable, "list", "--stuck", "--status", "failed"}, []string{"--stuck and --status cannot be given together"}},
		{"up slo without a duration", []string{"--brokers", unreachable, "up", "--slo", "book-ticket"}, []string{`--slo must be NAME[.STEP]=DURATION`, `got "book-ticket"`}},
		{"up slo of nothing", []string{"--brokers", unreachable, "up", "--slo", "nope=1m", "--slo", "book-ticket.Nope=1m", "--slo", "book-ticket=-1s"},
			[]string{`no definition "nope"`, `has no step "Nope"`, "-1s is not a positive duration"}},
		{"inspect without argument", []string{"--brokers", unreachable, "inspect"}, []string{"accepts 1 arg(s), received 0"}},
		{"inspect two arguments", []string{"--brokers", unreachable, "inspect", "a", "b"}, []string{"accepts 1 arg(s), received 2"}},
		{"cancel without argument", []string{"--brokers", unreachable, "cancel"}, []string{"accepts 1 arg(s), received 0"}},
		// cobra reports these with plain errors, not usage errors.
		{"unknown subcommand", []string{"--brokers", unreachable, "nope"}, []string{`unknown command "nope"`}},
		{"misspelt subcommand", []string{"--brokers", unreachable, "lst"}, []string{`unknown command "lst"`}},
		{"argument to list", []string{"--brokers", unreachable, "list", "extra"}, []string{`"extra"`}},
		{"argument to book", []string{"--brokers", unreachable, "book", "extra"}, []string{`"extra"`}},
		{"argument to replay", []string{"--brokers", unreachable, "replay", "extra"}, []string{`"extra"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cliWithin(t, 30*time.Second, tt.args...).wantFailure(t, exitUsage, tt.wants...)
		})
	}
}

func TestUnreachableBroker(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	t.Run("--brokers", func(t *testing.T) {
		cliWithin(t, 30*time.Second, "--brokers", unreachable, "list").wantFailure(t, exitError, "unreachable", unreachable)
	})
	t.Run("broker.addr of the data dir", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, addrFile), []byte(unreachable+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cliWithin(t, 30*time.Second, "--data-dir", dir, "-o", "json", "inspect", "BK-AAAAAAAA").wantFailure(t, exitError, "unreachable", unreachable)
	})
}

func TestNoBrokerConfigured(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"list"},
		{"-o", "json", "list", "--status", "completed"},
		{"inspect", "BK-AAAAAAAA"},
		{"replay"},
		{"cancel", "BK-AAAAAAAA"},
		{"book", "--user", "alice", "--show", "show-1", "--seats", "2", "--payment-token", "tok_ok"},
	} {
		t.Run(args[len(args)-1], func(t *testing.T) {
			args := append([]string{"--data-dir", dir}, args...)
			cliWithin(t, 30*time.Second, args...).wantFailure(t, exitError, "saga up", "--brokers", dir)
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the data dir was written to: %v", entries)
	}
}

func TestOneLine(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{errors.New("plain"), "plain"},
		{errors.Join(errors.New("a"), errors.New("b")), "a; b"},
		{fmt.Errorf("wrap: %w", errors.Join(errors.New("x\n  y"), errors.New("z\t\tw"))), "wrap: x; y; z w"},
	} {
		if got := oneLine(tt.err); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"book", "--help"}, {}} {
		r := cliWithin(t, 30*time.Second, args...)
		if r.code != exitOK {
			t.Errorf("saga %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{errors.New("broker unreachable"), exitError},
		{usagef("--seats must be a number"), exitUsage},
		{fmt.Errorf("book: %w", outcomeError{exitCompensated, "saga x ended compensated"}), exitCompensated},
		{outcomeError{exitFailed, "saga x ended failed"}, exitFailed},
		{outcomeError{exitRunning, "saga x still running after 1s"}, exitRunning},
		{errors.New(`unknown command "nope" for "saga"`), exitUsage},
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestColourOnlyOnATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	none := func(string) string { return "" }
	if colour(f, none) {
		t.Error("colour in a file")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !colour(tty, none) {
			t.Error("no colour on a terminal")
		}
		if colour(tty, func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }) {
			t.Error("colour on a terminal with NO_COLOR set")
		}
	}
}

func TestFlagErrorsInWords(t *testing.T) {
	for args, want := range map[string]string{
		"book --seats abc": `invalid argument "abc" for "--seats" flag: not a whole number`,
		"book --wait soon": `invalid argument "soon" for "--wait" flag: not a duration (like 500ms, 15s or 2m)`,
	} {
		r := cliWithin(t, 30*time.Second, strings.Fields(args)...)
		r.wantFailure(t, exitUsage, want)
		if strings.Contains(r.stderr, "strconv") || strings.Contains(r.stderr, "time:") {
			t.Errorf("saga %s: %q speaks Go", args, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := cliWithin(t, 30*time.Second, args...).wantOK(t)
		if !strings.HasPrefix(out, "saga ") || !strings.Contains(out, "commit ") {
			t.Errorf("saga %v = %q, want the version and commit", args, out)
		}
	}
}

// Every command's help has examples.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" {
			t.Errorf("%q has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	walk(newRoot())
}
