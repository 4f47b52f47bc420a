package bus

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

// The error chains sarama builds when a broker refuses the credentials,
// as NewClient returns them: kfake cannot produce them (it hangs up), so
// they are built by hand here and produced by Apache Kafka in
// secure_test.go.
func TestPermanentFindsTheBrokersReason(t *testing.T) {
	t.Parallel()
	cfg := Config{Brokers: []string{"b:1"}, SASL: SASLConfig{User: "saga", Password: "x"}}
	authFailed := sarama.Wrap(sarama.ErrSASLAuthenticationFailed, errors.New("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"))
	cases := []struct {
		name string
		err  error
		kind error
		want string
	}{
		{"auth failure behind out-of-brokers", fmt.Errorf("connect: %w", sarama.Wrap(sarama.ErrOutOfBrokers, authFailed)), ErrAuthentication,
			`kafka at [b:1]: authentication failed for user "saga" (SCRAM-SHA-512): Authentication failed during authentication due to invalid credentials`},
		{"auth failure returned directly", authFailed, ErrAuthentication, `authentication failed for user "saga"`},
		{"mechanism not enabled", sarama.Wrap(sarama.ErrOutOfBrokers, sarama.ErrUnsupportedSASLMechanism), ErrAuthentication,
			"the broker does not enable SASL mechanism SCRAM-SHA-512"},
		{"connection dropped", sarama.Wrap(sarama.ErrOutOfBrokers, io.EOF), nil, ""},
		{"nil", nil, nil, ""},
	}
	for _, tc := range cases {
		got := permanent(cfg, tc.err)
		if tc.kind == nil {
			if got != nil {
				t.Errorf("%s: %v is not permanent, got %v", tc.name, tc.err, got)
			}
			continue
		}
		if !errors.Is(got, tc.kind) || !errors.Is(got, tc.err) || got == nil || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("%s: got %v, want %v saying %q", tc.name, got, tc.kind, tc.want)
		}
	}
}
