package events_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
)

func TestRedact(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"no secret is unchanged", `{"b": 1, "a": "x"}`, `{"b": 1, "a": "x"}`},
		{"top level", `{"payment_token":"tok_ok","seats":2}`, `{"payment_token":"[redacted]","seats":2}`},
		{"nested in data", `{"definition":"book-ticket","data":{"payment_token":"tok_ok","user_id":"alice"}}`,
			`{"data":{"payment_token":"[redacted]","user_id":"alice"},"definition":"book-ticket"}`},
		{"in an array", `[{"payment_token":"a"},{"x":{"payment_token":"b"}}]`,
			`[{"payment_token":"[redacted]"},{"x":{"payment_token":"[redacted]"}}]`},
		{"a value that is not a string", `{"payment_token":{"card":"4111"}}`, `{"payment_token":"[redacted]"}`},
		{"the name spelt with an escape", `{"payment\u005ftoken":"tok_ok"}`, `{"payment_token":"[redacted]"}`},
		{"big numbers stay exact", `{"amount_cents":12345678901234567890,"payment_token":"t"}`,
			`{"amount_cents":12345678901234567890,"payment_token":"[redacted]"}`},
		{"not json", `{not json "payment_token": "tok_ok", x`, `{not json "payment_token":"[redacted]", x`},
		{"truncated", `{"data":{"payment_token":"tok_o`, `{"data":{"payment_token":"[redacted]"`},
		{"escaped quote in a value", `{"payment_token":"a\"b" trailing`, `{"payment_token":"[redacted]" trailing`},
		{"two documents", `{"payment_token":"a"} {"payment_token":"b"}`, `{"payment_token":"[redacted]"} {"payment_token":"[redacted]"}`},
		{"another case, as Go's decoder reads it", `{"Payment_Token":"tok_ok"}`, `{"Payment_Token":"[redacted]"}`},
		{"another case, not json", `x "PAYMENT_TOKEN": "tok_ok"`, `x "PAYMENT_TOKEN":"[redacted]"`},
		{"the name as a value only", `{"field":"payment_token"}`, `{"field":"payment_token"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(events.Redact([]byte(c.in)))
			if got != c.want {
				t.Errorf("Redact(%s) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}

// FuzzRedact: whatever a dead letter holds, no token value that a JSON
// decoder would read as a payment_token comes through.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{`{"payment_token":"tok_secret"}`, `{"data":{"payment_token":"tok_secret"}}`,
		`[1,{"payment\u005ftoken":"tok_secret"}]`, `{"payment_token":"tok_secret`, `nothing`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := events.Redact(in)
		if !bytes.Contains(bytes.ToLower(in), []byte("payment_token")) && !bytes.Contains(in, []byte(`\u`)) && !bytes.Equal(in, out) {
			t.Fatalf("a payload with no secret changed: %q -> %q", in, out)
		}
		var doc any
		if json.Unmarshal(out, &doc) == nil {
			if s := findSecret(doc); s != "" {
				t.Fatalf("Redact(%q) = %q still holds payment_token %q", in, out, s)
			}
		}
	})
}

func findSecret(v any) string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && strings.EqualFold(k, "payment_token") && s != events.Redacted {
				return s
			}
			if s := findSecret(x); s != "" {
				return s
			}
		}
	case []any:
		for _, x := range v {
			if s := findSecret(x); s != "" {
				return s
			}
		}
	}
	return ""
}

func TestWithoutSecrets(t *testing.T) {
	cases := []struct {
		name, in string
		keep     []string
		want     string
	}{
		{"no secret", `{"user_id":"alice", "seats":2}`, nil, `{"user_id":"alice", "seats":2}`},
		{"token dropped", `{"user_id":"alice","payment_token":"tok_ok","seats":2}`, nil, `{"seats":2,"user_id":"alice"}`},
		{"token kept for its service", `{"user_id":"alice","payment_token":"tok_ok"}`, []string{"payment_token"}, `{"user_id":"alice","payment_token":"tok_ok"}`},
		{"any case", `{"Payment_TOKEN":"tok_ok","user_id":"a"}`, nil, `{"user_id":"a"}`},
		{"escaped name", `{"payment\u005ftoken":"tok_ok","user_id":"a"}`, nil, `{"user_id":"a"}`},
		{"not an object", `["payment_token"]`, nil, `["payment_token"]`},
		{"not JSON", `payment_token`, nil, `payment_token`},
		{"nested is left to its owner", `{"x":{"payment_token":"t"}}`, nil, `{"x":{"payment_token":"t"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(events.WithoutSecrets(json.RawMessage(c.in), c.keep...)); got != c.want {
				t.Errorf("WithoutSecrets(%s) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}

// FuzzWithoutSecrets: what a service that does not need the token decodes
// from its command's data holds no token.
func FuzzWithoutSecrets(f *testing.F) {
	f.Add([]byte(`{"user_id":"alice","payment_token":"tok_ok"}`))
	f.Add([]byte(`{"PAYMENT_token":"x","payment_token":"y"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d events.BookingData
		if json.Unmarshal(events.WithoutSecrets(data), &d) == nil && d.PaymentToken != "" {
			t.Fatalf("%q: the token %q came through", data, d.PaymentToken)
		}
	})
}
