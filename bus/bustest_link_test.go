package bus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

// bustestStart keeps the tests short: every integration test gets its own
// namespace on the shared or embedded broker.
func bustestStart(t *testing.T) bus.Config {
	t.Helper()
	return bustest.Start(t)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func bustestEventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	bustest.Eventually(t, timeout, cond)
}
