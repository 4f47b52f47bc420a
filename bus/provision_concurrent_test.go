package bus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

// Several processes start at once and provision the same topics: each
// returns promptly, whichever created them.
func TestProvisionConcurrently(t *testing.T) {
	cfg := bustest.Start(t)
	specs := []bus.TopicSpec{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
	for round := range 2 { // round 1: the topics exist already
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = bus.Provision(ctx, cfg, specs)
			}()
		}
		wg.Wait()
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, provisioner %d: %v", round, i, err)
			}
		}
	}
}
