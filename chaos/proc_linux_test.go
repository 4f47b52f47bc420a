//go:build chaos

package chaos

import "syscall"

// sysProcAttr makes a child die with the test process: a test killed by
// its timeout must not leave saga processes behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
