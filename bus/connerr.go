package bus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/IBM/sarama"
)

// Kinds of connection failure that retrying cannot fix; test with
// errors.Is. The errors also wrap sarama's own error.
var (
	// ErrAuthentication: the broker refused the SASL credentials or
	// mechanism, or wants credentials and none were given.
	ErrAuthentication = errors.New("authentication failed")
	// ErrTLS: the TLS handshake failed (the broker's certificate is not
	// signed by the configured CA, the broker rejected ours) or only one
	// side speaks TLS.
	ErrTLS = errors.New("TLS handshake failed")
)

// What probeBroker found out about a broker that hung up on saga.
var (
	errExpectsTLS = errors.New("the listener speaks TLS")
	errNoTLS      = errors.New("the listener hangs up on TLS handshakes")
	errNeedsSASL  = errors.New("the listener hangs up on clients that do not authenticate")
)

// connError carries a message written for people and keeps the kind and
// the original error reachable for errors.Is and errors.As.
type connError struct {
	msg         string
	kind, cause error
}

func (e *connError) Error() string   { return e.msg }
func (e *connError) Unwrap() []error { return []error{e.kind, e.cause} }

// permanent returns err reworded when it says the broker refused saga's
// credentials or a TLS handshake failed, and nil for anything else
// (unreachable, still starting, ...), which may be worth retrying.
func permanent(cfg Config, err error) error {
	if err == nil {
		return nil
	}
	wrap := func(kind error, format string, args ...any) error {
		prefix := fmt.Sprintf("kafka at %v: ", cfg.Brokers)
		return &connError{msg: prefix + fmt.Sprintf(format, args...), kind: kind, cause: err}
	}
	if errors.Is(err, sarama.ErrUnsupportedSASLMechanism) {
		return wrap(ErrAuthentication, "authentication failed for user %q: the broker does not enable SASL mechanism %s", cfg.SASL.User, cfg.SASL.mechanism())
	}
	if errors.Is(err, sarama.ErrIllegalSASLState) {
		return wrap(ErrAuthentication, "authentication failed for user %q: the broker does not expect SASL here: is it a PLAINTEXT or SSL listener?", cfg.SASL.User)
	}
	if in := innermost(err, func(e error) bool { return errors.Is(e, sarama.ErrSASLAuthenticationFailed) }); in != nil {
		return wrap(ErrAuthentication, "authentication failed for user %q (%s): %s", cfg.SASL.User, cfg.SASL.mechanism(), reason(in))
	}
	// Go wraps every failed check of the broker's certificate (unknown
	// CA, wrong host, expired) in CertificateVerificationError.
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return wrap(ErrTLS, "TLS: %s", strings.TrimPrefix(verr.Err.Error(), "x509: "))
	}
	switch {
	case errors.Is(err, errExpectsTLS):
		return wrap(ErrTLS, "TLS: the broker expects TLS, but TLS is off: set a CA file, or enable TLS to use the system's CAs")
	case errors.Is(err, errNoTLS):
		return wrap(ErrTLS, "TLS: the broker hung up on the TLS handshake: is it a plaintext listener? Turn TLS off or use the broker's TLS port")
	case errors.Is(err, errNeedsSASL):
		return wrap(ErrAuthentication, "authentication required: the broker hung up on a client without SASL credentials; set a user and password")
	}
	// A TLS alert from the broker: it rejected our client certificate (or
	// the lack of one) or the protocol version.
	var oerr *net.OpError
	if errors.As(err, &oerr) && oerr.Op == "remote error" {
		return wrap(ErrTLS, "TLS: the broker rejected the handshake (client certificate?): %v", oerr.Err)
	}
	// The broker answered in plaintext.
	var herr tls.RecordHeaderError
	if errors.As(err, &herr) {
		return wrap(ErrTLS, "TLS: the broker did not answer in TLS (is it a plaintext listener?): %v", herr)
	}
	return nil
}

// innermost returns the deepest error in err's tree for which match
// holds, or nil. sarama's errors match their sentinel through an Is
// method while their Unwrap leads to the broker's message, so the deepest
// match is the broker's own error.
func innermost(err error, match func(error) bool) error {
	if err == nil || !match(err) {
		return nil
	}
	var kids []error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		kids = []error{u.Unwrap()}
	case interface{ Unwrap() []error }:
		kids = u.Unwrap()
	}
	for _, k := range kids {
		if in := innermost(k, match); in != nil {
			return in
		}
	}
	return err
}

// reason is the broker's message when sarama kept one (SaslAuthenticate
// responses carry it), else sarama's text for the error code.
func reason(err error) string {
	if w := errors.Unwrap(err); w != nil {
		return w.Error()
	}
	return err.Error()
}
