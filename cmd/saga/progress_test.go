package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestProgressOnlyForAPersonWatching(t *testing.T) {
	for _, c := range []struct {
		stdout, stderr, asJSON, want bool
	}{
		{true, true, false, true},
		{false, true, false, false}, // piped
		{true, false, false, false}, // stderr to a file
		{false, false, false, false},
		{true, true, true, false}, // -o json
		{false, false, true, false},
	} {
		if got := showProgress(c.stdout, c.stderr, c.asJSON); got != c.want {
			t.Errorf("showProgress(stdout tty %v, stderr tty %v, json %v) = %v, want %v", c.stdout, c.stderr, c.asJSON, got, c.want)
		}
	}
}

func TestNoProgressWhenPiped(t *testing.T) {
	// Under go test stdout is not a terminal: the bar is nil, and a nil
	// bar's methods do nothing.
	if isTerminal(os.Stdout) {
		t.Skip("stdout is a terminal")
	}
	g := &globals{}
	p := g.newProgress(10, "x")
	if p != nil {
		t.Fatal("a progress bar when stdout is not a terminal")
	}
	p.describe("y")
	p.set(5, 10)
	p.done()
}

func TestBarIsClearedWhenDone(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{bar: newBar(&buf, 100, "rebuilding")}
	p.set(50, 100)
	p.done()
	if !strings.Contains(buf.String(), "rebuilding") {
		t.Errorf("the bar never said what it did: %q", buf.String())
	}
	if last := buf.String()[strings.LastIndex(buf.String(), "\r")+1:]; strings.TrimSpace(last) != "" {
		t.Errorf("the bar was not cleared: it ends with %q", last)
	}
}
