package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// The tests of this package swap os.Stdout and os.Stderr to capture what
// the CLI prints, so none of them may run in parallel.

// result is what one CLI run left behind.
type result struct {
	args   []string
	code   int
	stdout string
	stderr string
}

// cli runs run(ctx, args) with stdout and stderr captured. It fails the
// test if ctx's deadline passes before run returns (run must honour it).
func cli(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var outBuf, errBuf bytes.Buffer
	copied := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(&outBuf, outR); copied <- struct{}{} }()
	go func() { _, _ = io.Copy(&errBuf, errR); copied <- struct{}{} }()

	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	done := make(chan int, 1)
	go func() { done <- run(ctx, args) }()
	code, finished := 0, true
	select {
	case code = <-done:
	case <-ctx.Done():
		// Give run a moment to notice the end of its context.
		select {
		case code = <-done:
		case <-time.After(5 * time.Second):
			finished = false
		}
	}
	os.Stdout, os.Stderr = oldOut, oldErr
	_ = outW.Close()
	_ = errW.Close()
	<-copied
	<-copied
	_ = outR.Close()
	_ = errR.Close()

	r := result{args: args, code: code, stdout: outBuf.String(), stderr: errBuf.String()}
	if !finished {
		t.Fatalf("saga %s did not return after its context ended (%v); stderr so far: %q", strings.Join(args, " "), ctx.Err(), r.stderr)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("saga %s exceeded the test's deadline (exit %d, stderr %q)", strings.Join(args, " "), code, r.stderr)
	}
	return r
}

// cliWithin is cli with a fresh context bounded by d.
func cliWithin(t *testing.T, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return cli(t, ctx, args...)
}

// jsonError parses stderr as the one JSON object -o json writes for an
// error.
func jsonError(t *testing.T, r result) errorOut {
	t.Helper()
	var e errorOut
	if strings.Count(r.stderr, "\n") != 1 || json.Unmarshal([]byte(r.stderr), &e) != nil || e.Error == "" {
		t.Errorf("saga %s: stderr = %q, want one JSON object with the error", strings.Join(r.args, " "), r.stderr)
	}
	if e.ExitStatus != r.code {
		t.Errorf("saga %s: stderr says exit status %d, exit %d", strings.Join(r.args, " "), e.ExitStatus, r.code)
	}
	return e
}

// wantFailure checks an error exit: the status, nothing on stdout, and
// exactly one line on stderr, starting "saga: " (or, with -o json, one
// JSON object) and mentioning every want.
func (r result) wantFailure(t *testing.T, code int, wants ...string) {
	t.Helper()
	cmd := "saga " + strings.Join(r.args, " ")
	if strings.HasPrefix(r.stderr, "{") {
		jsonError(t, r)
		r.stderr = "saga: " + r.stderr
	}
	if r.code != code {
		t.Errorf("%s: exit %d, want %d (stderr %q)", cmd, r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("%s: stdout = %q, want nothing", cmd, r.stdout)
	}
	if !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("%s: stderr = %q, want exactly one line", cmd, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "saga: ") {
		t.Errorf("%s: stderr = %q, want it to start with \"saga: \"", cmd, r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("%s: stderr = %q, want it to mention %q", cmd, r.stderr, w)
		}
	}
}

// wantOK checks a successful exit and returns stdout.
func (r result) wantOK(t *testing.T) string {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("saga %s: exit %d, want 0; stderr %q; stdout %q", strings.Join(r.args, " "), r.code, r.stderr, r.stdout)
	}
	if r.stderr != "" && !isNote(r.stderr) {
		t.Errorf("saga %s: stderr = %q, want nothing but notes (stdout holds the answer)", strings.Join(r.args, " "), r.stderr)
	}
	return r.stdout
}

// isNote says whether stderr holds only notes: lines in parentheses (how
// stale an answer is) or saying there was nothing to do.
func isNote(stderr string) bool {
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "(") || !strings.HasSuffix(l, ")") {
			return false
		}
	}
	return true
}
