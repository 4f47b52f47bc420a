package system_test

import (
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/system"
)

// Each part asks PartBus for its connection, by its principal's name.
func TestPartsAskPartBus(t *testing.T) {
	t.Parallel()
	var asked []string
	_, err := system.Parts(system.Config{Bus: bus.Config{Brokers: []string{"127.0.0.1:1"}}, Log: zerolog.Nop(),
		PartBus: func(part string, cfg bus.Config) bus.Config {
			asked = append(asked, part)
			cfg.SASL = bus.SASLConfig{User: part, Password: part + "-secret"}
			return cfg
		}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(asked)
	if want := []string{"booking", "notification", "orchestrator", "payment", "user"}; !slices.Equal(asked, want) {
		t.Errorf("PartBus asked for %v, want %v", asked, want)
	}
}
