//go:build !linux

package bus_test

import "os/exec"

// killWithParent: only Linux can tie the broker's life to the test
// binary; elsewhere t.Cleanup alone stops it.
func killWithParent(*exec.Cmd) {}
