// Command saga runs the saga orchestrator and its participant services,
// posts booking commands, and inspects, lists and replays the logs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sagaflow/saga/client"
)

// Exit statuses, documented in the README: scripts tell a booking from a
// refusal by them alone.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitCompensated: the saga ended compensated (the booking was refused
	// and undone everywhere).
	exitCompensated = 3
	// exitFailed: a compensation could not be done; an operator must act.
	exitFailed = 4
	// exitRunning: --wait ran out with the saga still running.
	exitRunning = 5
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// run executes the CLI and maps errors to one line on stderr (a JSON
// object with -o json) and a status.
func run(ctx context.Context, args []string) int {
	return runTo(ctx, os.Stderr, args)
}

func runTo(ctx context.Context, stderr io.Writer, args []string) int {
	g := &globals{}
	cmd := newRootWith(g) //nolint:contextcheck // the commands take their context from ExecuteContext, through cmd.Context()
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if g.output == "json" {
		_ = json.NewEncoder(stderr).Encode(errorOut{Error: oneLine(err), ExitStatus: code})
	} else {
		fmt.Fprintln(stderr, "saga: "+oneLine(err))
	}
	return code
}

// errorOut is an error as -o json writes it on stderr.
type errorOut struct {
	Error      string `json:"error"`
	ExitStatus int    `json:"exit_status"`
}

func exitCode(err error) int {
	var u usageError
	var o outcomeError
	switch {
	case errors.As(err, &o):
		return o.code
	case errors.Is(err, client.ErrConflict):
		return exitUsage
	case errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.HasPrefix(err.Error(), "required flag"):
		return exitUsage
	}
	return exitError
}

// outcomeError reports a saga that did not complete, with the exit status
// of how it stands.
type outcomeError struct {
	code int
	msg  string
}

func (o outcomeError) Error() string { return o.msg }

// usageError marks a bad argument or flag.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// oneLine folds a joined, multi-line error into one line.
func oneLine(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}
