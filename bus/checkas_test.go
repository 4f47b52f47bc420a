package bus_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// CheckLoggedAs answers as CheckLogged does, and hands back the decoded
// payload of a record of the type asked for when, and only when, it checks.
func TestCheckLoggedAsIsCheckLogged(t *testing.T) {
	started := func(payload string) events.Envelope {
		e := fullEnvelope()
		e.Type, e.Payload = events.SagaStarted, json.RawMessage(payload)
		return e
	}
	cases := []struct {
		name    string
		env     events.Envelope
		decoded bool
	}{
		{"started", started(`{"definition":"book-ticket","idempotency_key":"k","booking_ref":"BK-ABCDEFGH","data":{"seats":2}}`), true},
		{"started, invalid", started(`{"definition":"","idempotency_key":"k"}`), false},
		{"started, not JSON", started(`{"definition":`), false},
		{"another type", fullEnvelope(), false},
	}
	for _, c := range cases {
		msg := bus.ToMessage(c.env)
		h := map[string]string(msg.Metadata)
		h[events.HeaderID] = msg.UUID
		r := bus.Record{Topic: "saga.events", Key: []byte("key-1"), Value: c.env.Payload, Headers: h, Timestamp: msgT0}
		wantEnv, wantErr := bus.Config{}.CheckLogged(r)
		env, p, err := bus.CheckLoggedAs[events.SagaStartedV1](bus.Config{}, r, events.SagaStarted)
		if !reflect.DeepEqual(env, wantEnv) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("%s: CheckLoggedAs = %#v, %v; CheckLogged = %#v, %v", c.name, env, err, wantEnv, wantErr)
		}
		if (p != nil) != c.decoded {
			t.Fatalf("%s: decoded payload %v, want one: %v", c.name, p, c.decoded)
		}
		if p != nil {
			want, err := events.Decode[events.SagaStartedV1](env)
			if err != nil || !reflect.DeepEqual(*p, want) {
				t.Errorf("%s: payload %#v, Decode gives %#v, %v", c.name, *p, want, err)
			}
		}
	}
}
