package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// showProgress decides whether a command draws a progress bar: only for
// a person watching, that is when stdout and stderr are both terminals,
// and never with -o json. The bar is drawn on stderr and cleared before
// the answer is printed, so stdout holds exactly what it holds when piped;
// asking stderr to be a terminal too keeps `saga replay 2>log` from
// filling a file with redraws.
func showProgress(stdoutTTY, stderrTTY, asJSON bool) bool {
	return stdoutTTY && stderrTTY && !asJSON
}

// progressShown is showProgress for this process's stdout, stderr and -o.
func (g *globals) progressShown() bool {
	return showProgress(isTerminal(os.Stdout), isTerminal(os.Stderr), g.json())
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) } //nolint:gosec // a file descriptor fits an int

// progress is a bar on stderr, or nothing: every method of a nil
// *progress does nothing, so commands call them unconditionally.
type progress struct {
	bar    *progressbar.ProgressBar
	closed bool
}

// newProgress returns a bar of max steps (a spinner when max is -1)
// described by desc, or nil when showProgress says no.
func (g *globals) newProgress(max int64, desc string) *progress {
	if !g.progressShown() {
		return nil
	}
	return &progress{bar: newBar(os.Stderr, max, desc)}
}

func newBar(w io.Writer, max int64, desc string) *progressbar.ProgressBar {
	opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetElapsedTime(true), progressbar.OptionSpinnerType(14)}
	if max >= 0 {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30))
	}
	b := progressbar.NewOptions64(max, opts...)
	_ = b.RenderBlank()
	return b
}

// describe changes what the bar says it is doing.
func (p *progress) describe(s string) {
	if p != nil {
		p.bar.Describe(s)
	}
}

// set moves the bar to n, growing its max when n passed it.
func (p *progress) set(n, max int64) {
	if p == nil {
		return
	}
	if max > p.bar.GetMax64() {
		p.bar.ChangeMax64(max)
	}
	_ = p.bar.Set64(n)
}

// done clears the bar, before the command prints its answer; once.
func (p *progress) done() {
	if p != nil && !p.closed {
		p.closed = true
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		_ = p.bar.Close()
	}
}

// phases returns the Progress func of a long run: without a bar each
// phase is a line on w, as it always was; with one, the line is printed
// above the bar, which then shows the phase with a spinner and the time.
func (p *progress) phases(w io.Writer, prefix string) func(string) {
	return func(s string) {
		if p == nil {
			fmt.Fprintln(w, prefix, s)
			return
		}
		_ = p.bar.Clear()
		fmt.Fprintln(w, prefix, s)
		p.describe(prefix + " " + s)
	}
}
