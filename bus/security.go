package bus

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// SASL mechanisms saga speaks. SCRAM keeps the password off the wire;
// PLAIN sends it as is, so it belongs only on a TLS connection.
const (
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismPlain       = "PLAIN"
)

// DefaultMechanism is used when a user is set and no mechanism is named.
const DefaultMechanism = MechanismSCRAMSHA512

var mechanisms = []string{MechanismSCRAMSHA512, MechanismSCRAMSHA256, MechanismPlain}

// TLSConfig turns on TLS to the brokers. It is on when Enabled is true or
// any file is set; the files are PEM.
type TLSConfig struct {
	// Enabled turns TLS on even without files: the brokers' certificates
	// are then checked against the system's CAs.
	Enabled bool
	// CAFile holds the CA certificates that signed the brokers'
	// certificates; empty means the system's CAs.
	CAFile string
	// CertFile and KeyFile are the client certificate (with its chain) and
	// its private key, for brokers that require client authentication
	// (ssl.client.auth=required). Both or neither.
	CertFile string
	KeyFile  string
}

// On reports whether connections use TLS.
func (t TLSConfig) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
}

// Validate loads the files and reports every problem with them at once.
func (t TLSConfig) Validate() error {
	_, err := t.build()
	return err
}

// build loads the files into a tls.Config (nil when TLS is off) and
// reports every problem with them at once.
func (t TLSConfig) build() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	// TLS 1.2 is the oldest version Kafka 4 accepts by default.
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	var errs []error
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			errs = append(errs, err)
		}
		conf.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		errs = append(errs, fmt.Errorf("bus: TLS client certificate %s given without a key file", t.CertFile))
	case t.CertFile == "" && t.KeyFile != "":
		errs = append(errs, fmt.Errorf("bus: TLS client key %s given without a certificate file", t.KeyFile))
	case t.CertFile != "":
		cert, err := loadKeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, err)
		} else {
			conf.Certificates = []tls.Certificate{cert}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return conf, nil
}

// loadCAs parses every certificate in a PEM file, so a damaged CA file is
// reported instead of silently trusting fewer CAs.
func loadCAs(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bus: TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := raw; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bus: TLS CA file %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("bus: TLS CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// loadKeyPair reads both files first so that an unreadable file is named
// as such rather than as a mismatched pair.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, certErr := os.ReadFile(certFile)
	if certErr != nil {
		certErr = fmt.Errorf("bus: TLS client certificate: %w", certErr)
	}
	keyPEM, keyErr := os.ReadFile(keyFile)
	if keyErr != nil {
		keyErr = fmt.Errorf("bus: TLS client key: %w", keyErr)
	}
	if err := errors.Join(certErr, keyErr); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bus: TLS client certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// SASLConfig authenticates to the brokers; it is on when User is set.
type SASLConfig struct {
	// Mechanism is SCRAM-SHA-512 (the default), SCRAM-SHA-256 or PLAIN.
	Mechanism string
	// User and Password are the credentials; both or neither.
	User     string
	Password string
}

// On reports whether connections authenticate.
func (s SASLConfig) On() bool { return s.User != "" }

// mechanism resolves the default, so Validate works on a Config whose
// defaults were not applied yet.
func (s SASLConfig) mechanism() string {
	if s.Mechanism == "" {
		return DefaultMechanism
	}
	return s.Mechanism
}

// Validate reports every problem at once.
func (s SASLConfig) Validate() error {
	var errs []error
	if s.Mechanism != "" && !slices.Contains(mechanisms, s.Mechanism) {
		errs = append(errs, fmt.Errorf("bus: SASL mechanism must be one of %s, got %q", strings.Join(mechanisms, ", "), s.Mechanism))
	}
	switch {
	case s.User != "" && s.Password == "":
		errs = append(errs, fmt.Errorf("bus: SASL user %q has no password", s.User))
	case s.User == "" && s.Password != "":
		errs = append(errs, errors.New("bus: SASL password given without a user"))
	case s.User == "" && s.Mechanism != "":
		errs = append(errs, fmt.Errorf("bus: SASL mechanism %s given without a user", s.Mechanism))
	}
	return errors.Join(errs...)
}

// applySecurity sets sarama's TLS and SASL options from cfg.
func applySecurity(c *sarama.Config, cfg Config) error {
	errs := []error{cfg.SASL.Validate()}
	tc, err := cfg.TLS.build()
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if tc != nil {
		// sarama wraps each connection in tls.Client and, with ServerName
		// empty, verifies the certificate against the broker's host.
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tc
	}
	if cfg.SASL.On() {
		mech := cfg.SASL.mechanism()
		c.Net.SASL.Enable = true
		c.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
		c.Net.SASL.User = cfg.SASL.User
		c.Net.SASL.Password = cfg.SASL.Password
		// Kafka expects SaslHandshake first; v1 then carries the exchange
		// in SaslAuthenticate requests, whose errors hold the broker's reason.
		c.Net.SASL.Handshake = true
		c.Net.SASL.Version = sarama.SASLHandshakeV1
		switch mech {
		case MechanismSCRAMSHA512:
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		case MechanismSCRAMSHA256:
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		}
	}
	return nil
}

// scramClient is sarama's SCRAMClient on xdg-go/scram, as in sarama's
// own example; one per connection attempt.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }
