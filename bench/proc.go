package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process whose CPU time and memory are measured: the
// system under test runs apart from the load generator, so what each costs
// is told apart.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *tailBuffer
}

// StartProc starts exe with args; its output is kept (the last 64 KiB) for
// the error report when it dies.
func StartProc(name, exe string, args []string, env []string) (*Proc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{}), out: out}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Output is the tail of what the process printed.
func (p *Proc) Output() string { return p.out.String() }

// WaitOutput waits until the process prints substr, or fails when it exits
// or ctx ends first.
func (p *Proc) WaitOutput(ctx context.Context, substr string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if strings.Contains(p.out.String(), substr) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not print %q: %w\n%s", p.Name, substr, ctx.Err(), p.Output())
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before printing %q\n%s", p.Name, p.err, substr, p.Output())
		case <-t.C:
		}
	}
}

// Stop asks the process to end (SIGTERM), and kills it after grace.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// Usage is what a process has cost so far.
type Usage struct {
	// CPU is user plus system time.
	CPU time.Duration
	// RSS is the resident set now; PeakRSS the highest it has been.
	RSS, PeakRSS int64
}

// Usage reads the process's CPU time and memory from /proc.
func (p *Proc) Usage() (Usage, error) { return PidUsage(p.Pid()) }

// SelfUsage is the usage of this process.
func SelfUsage() (Usage, error) { return PidUsage(os.Getpid()) }

// PidUsage reads a process's CPU time and memory from /proc (Linux).
func PidUsage(pid int) (Usage, error) {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, errors.New("bench: unreadable /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return u, errors.New("bench: short /proc stat")
	}
	// utime and stime are fields 14 and 15 of stat, in clock ticks (100 Hz
	// on Linux for every architecture Go supports).
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u.CPU = time.Duration(ut+st) * (time.Second / 100)
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			u.RSS = kb << 10
		case "VmHWM":
			u.PeakRSS = kb << 10
		}
	}
	return u, sc.Err()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

var _ io.Writer = (*tailBuffer)(nil)

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
