package bus_test

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill the broker if the test binary dies
// without running its cleanups (e.g. killed by `go test -timeout`).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
