package readmodel

import (
	"encoding/json"
	"testing"

	"github.com/sagaflow/saga/events"
)

// stepCases are payloads whose step the scan must read as json.Unmarshal
// does, or leave to it.
var stepCases = []string{
	`{}`, `null`, `[]`, `"step"`, `1`, ` { } `,
	`{"step":"reserve-seats","attempt":1}`,
	`{"attempt":2,"step":"charge-payment","command_id":"c1","deadline":"2025-06-01T12:00:00Z"}`,
	`{"step":"a","step":"b"}`,
	`{"STEP":"upper"}`, `{"Step":"a","sTeP":"b"}`, `{"steps":"no","stepx":"no"}`,
	`{"step":null}`, `{"step":"a","step":null}`, `{"step":1}`, `{"step":"a","step":1}`,
	`{"step":{"step":"nested"}}`, `{"result":{"step":"nested"},"step":"top"}`,
	`{"result":[{"step":"x"},"]\"}{"],"step":"after"}`,
	`{"step":"esc\"aped"}`, `{"step":"\u0041"}`, `{"\u0073tep":"escaped key"}`,
	`{"ſtep":"long s"}`, `{"step":"ünïcode"}`,
	`{ "step" : "spaced" , "n" : -1.5e3 , "t" : true , "f" : false , "z" : null }`,
	"{\n\t\"reason\": \"x\",\n\t\"step\": \"multi\"\n}",
	`{"a":[1,2,[3,{"b":"}"}]],"step":"deep"}`,
	`{"step":""}`, `{"a":"\\","step":"after backslash"}`,
}

func unmarshalStep(raw []byte) string {
	var p struct {
		Step string `json:"step"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Step
}

func TestStepOfReadsAsUnmarshal(t *testing.T) {
	for _, c := range stepCases {
		if !json.Valid([]byte(c)) {
			t.Fatalf("case %q is not JSON", c)
		}
		got := stepOf(events.Envelope{Payload: json.RawMessage(c)})
		if want := unmarshalStep([]byte(c)); got != want {
			t.Errorf("stepOf(%s) = %q, json.Unmarshal reads %q", c, got, want)
		}
	}
}

func FuzzStepOf(f *testing.F) {
	for _, c := range stepCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // payloads are checked before they are folded
		}
		got := stepOf(events.Envelope{Payload: raw})
		if want := unmarshalStep(raw); got != want {
			t.Fatalf("stepOf(%q) = %q, json.Unmarshal reads %q", raw, got, want)
		}
	})
}
