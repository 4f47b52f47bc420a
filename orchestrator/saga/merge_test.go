package saga

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// mergeFields writes exactly what merging through a map and json.Marshal
// writes, or declines.
func TestMergeFieldsMatchesMarshal(t *testing.T) {
	tests := []struct {
		base, add string
		fast      bool
	}{
		{`{}`, `{}`, true},
		{`{"b":1,"a":2}`, `{"c":3}`, true},
		{`{"a":1}`, `{"a":2}`, true},
		{`{"a":1,"a":3}`, `{}`, true},
		{`{"a":1}`, `{"a":2,"a":4}`, true},
		{` { "a" : [ 1 , { "x" : "y z" } ] , "b" : null } `, ` {"c": true} `, true},
		{`{"a":"<tag> & \u2028 \u00e9 é"}`, `{"b":"\"quoted\" \\ back"}`, true},
		{"{\"a\":\"\xe2\x80\xa8\xe2\x80\xa9\"}", `{}`, true},
		{`{"amount_cents":1200,"booking_ref":"BK-1","seats":2}`, `{"charge_id":"ch-1","amount_cents":1200}`, true},
		{`{"é":1}`, `{}`, false},
		{`{"a\"b":1}`, `{}`, false},
		{`{"<":1}`, `{}`, false},
		{`{"a":1`, `{}`, false},
		{`[1,2]`, `{}`, false},
		{`"x"`, `{}`, false},
		{``, `{"a":1}`, false},
		{`{"a":1}`, `nope`, false},
	}
	for _, tt := range tests {
		got, ok := mergeFields([]byte(tt.base), []byte(tt.add))
		if ok != tt.fast {
			t.Errorf("mergeFields(%s, %s) took it: %v, want %v", tt.base, tt.add, ok, tt.fast)
		}
		want := mergeByMap(json.RawMessage(tt.base), json.RawMessage(tt.add))
		if ok && !bytes.Equal(got, want) {
			t.Errorf("mergeFields(%s, %s) = %s, json.Marshal writes %s", tt.base, tt.add, got, want)
		}
		if all := mergeObject(json.RawMessage(tt.base), json.RawMessage(tt.add)); !bytes.Equal(all, want) {
			t.Errorf("mergeObject(%s, %s) = %s, want %s", tt.base, tt.add, all, want)
		}
	}
}

func TestMergeFieldsRandomObjects(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		base, add := randomObject(rnd, 0), randomObject(rnd, 0)
		got, ok := mergeFields(base, add)
		if !ok {
			continue
		}
		if want := mergeByMap(base, add); !bytes.Equal(got, want) {
			t.Fatalf("mergeFields(%s, %s) = %s, json.Marshal writes %s", base, add, got, want)
		}
	}
}

func FuzzMergeObject(f *testing.F) {
	f.Add([]byte(`{"b":1,"a":{"x":[1, 2]}}`), []byte(`{"a":"<&>"}`))
	f.Add([]byte(`{"a":1,"a":2}`), []byte(` {} `))
	f.Fuzz(func(t *testing.T, base, add []byte) {
		got, ok := mergeFields(base, add)
		if !ok {
			return
		}
		if want := mergeByMap(base, add); !bytes.Equal(got, want) {
			t.Fatalf("mergeFields(%q, %q) = %s, json.Marshal writes %s", base, add, got, want)
		}
	})
}

var randomKeys = []string{"a", "b", "ab", "booking_ref", "amount_cents", "x y", "Z", "a1", "_", ""}

func randomObject(rnd *rand.Rand, depth int) []byte {
	var b bytes.Buffer
	ws := func() {
		if rnd.IntN(4) == 0 {
			b.WriteString([]string{" ", "\n", "\t ", "\r\n"}[rnd.IntN(4)])
		}
	}
	ws()
	b.WriteByte('{')
	for i := range rnd.IntN(5) {
		if i > 0 {
			b.WriteByte(',')
		}
		ws()
		fmt.Fprintf(&b, "%q", randomKeys[rnd.IntN(len(randomKeys))])
		ws()
		b.WriteByte(':')
		ws()
		b.Write(randomValue(rnd, depth))
		ws()
	}
	b.WriteByte('}')
	ws()
	return b.Bytes()
}

func randomValue(rnd *rand.Rand, depth int) []byte {
	switch r := rnd.IntN(8); {
	case r == 0 && depth < 3:
		return randomObject(rnd, depth+1)
	case r == 1 && depth < 3:
		return fmt.Appendf(nil, "[%s, %s]", randomValue(rnd, depth+1), randomValue(rnd, depth+1))
	case r == 2:
		return []byte([]string{"true", "false", "null"}[rnd.IntN(3)])
	case r == 3:
		return fmt.Appendf(nil, "%d", rnd.IntN(100000)-500)
	case r == 4:
		return []byte(`1.5e3`)
	default:
		s := []string{"plain", "with space", "<b>&amp;</b>", `esc \" \\ \n \u00e9`, "é unicode", "\u2028 sep", ""}[rnd.IntN(7)]
		return []byte(`"` + s + `"`)
	}
}
