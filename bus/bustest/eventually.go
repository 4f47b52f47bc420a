package bustest

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually re-checks; short enough that tests
// finish promptly, long enough not to hammer the broker.
const pollInterval = 20 * time.Millisecond

// Eventually polls cond every 20ms until it reports true, and fails the
// test with cond's last explanation once timeout has passed. Tests use it
// instead of sleeping.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, why)
		}
		<-tick.C
	}
}
