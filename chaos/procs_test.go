//go:build chaos

package chaos

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one supervised OS process: started, SIGKILLed and started again
// by the test; when it exits on its own, the supervisor records why and
// starts it again a second later, as systemd or Kubernetes would.
type proc struct {
	name string
	part string // the part of the system it runs, if any
	bin  string
	args []string
	log  string // file that collects stdout and stderr of every run

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current run has exited
	killing  bool          // the current run's exit is ours
	stopping bool          // the test is over: no more restarts
	starts   int
	kills    int
	exits    []exitRecord // exits nobody asked for
}

// exitRecord is an exit the test did not cause.
type exitRecord struct {
	At     time.Time
	Status string
	Run    int
}

func newProc(name, bin, logDir string, args ...string) *proc {
	return &proc{name: name, bin: bin, args: args, log: filepath.Join(logDir, name+".log")}
}

// start runs the process once more, appending to its log.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *proc) startLocked() error {
	if p.stopping {
		return nil
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== chaos: run %d of %s started at %s: %s %s\n", p.starts, p.name,
		time.Now().Format(time.RFC3339Nano), filepath.Base(p.bin), strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = os.Environ()
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killing = cmd, done, false
	run := p.starts
	go func() {
		err := cmd.Wait()
		status := "exit 0"
		if err != nil {
			status = err.Error()
		}
		fmt.Fprintf(f, "=== chaos: run %d of %s ended at %s: %s\n", run, p.name, time.Now().Format(time.RFC3339Nano), status)
		f.Close()
		p.mu.Lock()
		expected := p.killing || p.stopping
		if !expected {
			p.exits = append(p.exits, exitRecord{At: time.Now(), Status: status, Run: run})
		}
		close(done)
		p.mu.Unlock()
		if !expected {
			// A supervisor restarts what died on its own, after a delay
			// on purpose, as systemd's RestartSec does.
			time.Sleep(time.Second)
			p.mu.Lock()
			if p.done == done && !p.stopping {
				_ = p.startLocked()
			}
			p.mu.Unlock()
		}
	}()
	return nil
}

// kill SIGKILLs the running process and waits until it is gone.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return
	}
	p.killing = true
	p.kills++
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// restart SIGKILLs the process, waits pause, and starts it again.
func (p *proc) restart(pause time.Duration) error {
	p.kill()
	time.Sleep(pause) // the outage, on purpose
	return p.start()
}

// stop ends the process for good: SIGTERM, then SIGKILL after a while.
func (p *proc) stop() {
	p.mu.Lock()
	p.stopping = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

func (p *proc) counts() (starts, kills int, exits []exitRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts, p.kills, append([]exitRecord(nil), p.exits...)
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	raw, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
