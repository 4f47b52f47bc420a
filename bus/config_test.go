package bus_test

import (
	"strings"
	"testing"

	"github.com/sagaflow/saga/bus"
)

func TestConfigNamespacesTopicsAndGroups(t *testing.T) {
	t.Parallel()
	plain := bus.Config{}
	if got := plain.Topic("saga.events"); got != "saga.events" {
		t.Errorf("no namespace: Topic = %q", got)
	}
	ns := bus.Config{Namespace: "t1234"}
	if got := ns.Topic("saga.events"); got != "t1234.saga.events" {
		t.Errorf("Topic = %q", got)
	}
	if got := ns.Group("orchestrator"); got != "t1234.orchestrator" {
		t.Errorf("Group = %q", got)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := bus.Config{Brokers: []string{"nohostport"}, Partitions: -1, ReplicationFactor: -2, Namespace: "bad name"}.Validate()
	if err == nil {
		t.Fatal("expected an error")
	}
	for _, want := range []string{"nohostport", "partitions", "replication", "namespace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if err := (bus.Config{Brokers: []string{"127.0.0.1:9092"}}).Validate(); err != nil {
		t.Errorf("defaults should be valid: %v", err)
	}
	if err := (bus.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "no brokers") {
		t.Errorf("missing brokers: %v", err)
	}
}

func TestSaramaConfigIsValid(t *testing.T) {
	t.Parallel()
	conf, err := bus.SaramaConfig(bus.Config{Brokers: []string{"127.0.0.1:9092"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.Validate(); err != nil {
		t.Fatal(err)
	}
	if conf.Net.TLS.Enable || conf.Net.SASL.Enable {
		t.Errorf("TLS %v, SASL %v: want both off by default", conf.Net.TLS.Enable, conf.Net.SASL.Enable)
	}
}
