package bus_test

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/xdg-go/scram"

	"github.com/sagaflow/saga/bus"
)

func TestSecurityValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	dir := t.TempDir()
	junk := writeFile(t, dir, "junk.pem", []byte("not a certificate\n"))
	badCert := writeFile(t, dir, "bad-cert.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))

	cases := []struct {
		name string
		cfg  bus.Config
		want []string // substrings, each must appear
	}{
		{"everything wrong at once", bus.Config{
			TLS:  bus.TLSConfig{CAFile: filepath.Join(dir, "missing-ca.pem"), CertFile: pki.ClientCertFile},
			SASL: bus.SASLConfig{Mechanism: "SCRAM-SHA-1", User: "saga"},
		}, []string{"missing-ca.pem", "no such file", "without a key file", `user "saga" has no password`, `SCRAM-SHA-1`, "SCRAM-SHA-512, SCRAM-SHA-256, PLAIN"}},
		{"CA file not PEM", bus.Config{TLS: bus.TLSConfig{CAFile: junk}}, []string{"junk.pem", "no PEM certificate"}},
		{"CA certificate unparsable", bus.Config{TLS: bus.TLSConfig{CAFile: badCert}}, []string{"bad-cert.pem", "certificate 1"}},
		{"key without certificate", bus.Config{TLS: bus.TLSConfig{KeyFile: pki.ClientKey}}, []string{"without a certificate file"}},
		{"unreadable key", bus.Config{TLS: bus.TLSConfig{CertFile: pki.ClientCertFile, KeyFile: filepath.Join(dir, "nokey.pem")}}, []string{"client key", "nokey.pem"}},
		{"key of another certificate", bus.Config{TLS: bus.TLSConfig{CertFile: pki.ClientCertFile, KeyFile: pki.ServerKey}}, []string{"client.pem", "server-key.pem", "does not match"}},
		{"password without user", bus.Config{SASL: bus.SASLConfig{Password: "x"}}, []string{"password given without a user"}},
		{"mechanism without user", bus.Config{SASL: bus.SASLConfig{Mechanism: "PLAIN"}}, []string{"PLAIN given without a user"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Brokers = []string{"127.0.0.1:9092"}
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if _, serr := bus.SaramaConfig(tc.cfg); serr == nil {
				t.Error("SaramaConfig accepted it")
			}
		})
	}

	good := bus.Config{
		Brokers: []string{"127.0.0.1:9092"},
		TLS:     bus.TLSConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey},
		SASL:    bus.SASLConfig{User: "saga", Password: "pw"},
	}
	if err := good.Validate(); err != nil {
		t.Errorf("complete settings: %v", err)
	}
}

func TestSaramaConfigAppliesTLSAndSASL(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	conf, err := bus.SaramaConfig(bus.Config{
		Brokers: []string{"127.0.0.1:9092"},
		TLS:     bus.TLSConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey},
		SASL:    bus.SASLConfig{User: "saga", Password: "pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.Validate(); err != nil {
		t.Fatalf("sarama rejects it: %v", err)
	}
	tc := conf.Net.TLS.Config
	if !conf.Net.TLS.Enable || tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Errorf("TLS not applied: enable %v, config %+v", conf.Net.TLS.Enable, tc)
	}
	s := conf.Net.SASL
	if !s.Enable || s.Mechanism != sarama.SASLTypeSCRAMSHA512 || s.User != "saga" || s.Password != "pw" ||
		!s.Handshake || s.Version != sarama.SASLHandshakeV1 || s.SCRAMClientGeneratorFunc == nil {
		t.Errorf("SASL not applied (default mechanism SCRAM-SHA-512): %+v", s)
	}

	// Enabled alone: TLS with the system's CAs.
	conf, err = bus.SaramaConfig(bus.Config{Brokers: []string{"h:1"}, TLS: bus.TLSConfig{Enabled: true}})
	if err != nil || !conf.Net.TLS.Enable || conf.Net.TLS.Config.RootCAs != nil {
		t.Errorf("Enabled only: %v, %+v", err, conf)
	}
	conf, err = bus.SaramaConfig(bus.Config{Brokers: []string{"h:1"}, SASL: bus.SASLConfig{Mechanism: "PLAIN", User: "u", Password: "p"}})
	if err != nil || conf.Net.SASL.Mechanism != sarama.SASLTypePlaintext || conf.Net.TLS.Enable {
		t.Errorf("PLAIN: %v, %+v", err, conf)
	}
}

// The SCRAM client sarama gets must complete a conversation with a real
// SCRAM server, for both hashes.
func TestSCRAMClientTalksToAServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mech string
		hash scram.HashGeneratorFcn
	}{{"SCRAM-SHA-512", scram.SHA512}, {"SCRAM-SHA-256", scram.SHA256}} {
		conf, err := bus.SaramaConfig(bus.Config{Brokers: []string{"h:1"}, SASL: bus.SASLConfig{Mechanism: tc.mech, User: "saga", Password: "pw"}})
		if err != nil {
			t.Fatal(err)
		}
		creds := tc.hash
		kf := scram.KeyFactors{Salt: "salty", Iters: 4096}
		stored, err := mustClient(t, creds).GetStoredCredentialsWithError(kf)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := tc.hash.NewServer(func(string) (scram.StoredCredentials, error) { return stored, nil })
		if err != nil {
			t.Fatal(err)
		}
		sconv := srv.NewConversation()
		c := conf.Net.SASL.SCRAMClientGeneratorFunc()
		if err := c.Begin("saga", "pw", ""); err != nil {
			t.Fatal(err)
		}
		msg, err := c.Step("")
		for i := 0; err == nil && !c.Done() && i < 5; i++ {
			var reply string
			if reply, err = sconv.Step(msg); err == nil {
				msg, err = c.Step(reply)
			}
		}
		if err != nil || !c.Done() || !sconv.Valid() {
			t.Errorf("%s: conversation failed: %v (client done %v, server valid %v)", tc.mech, err, c.Done(), sconv.Valid())
		}
	}
}

func mustClient(t *testing.T, h scram.HashGeneratorFcn) *scram.Client {
	t.Helper()
	c, err := h.NewClient("saga", "pw", "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startSecureFake runs an in-process kfake broker with TLS and
// SCRAM-SHA-512 (user saga / saga-secret), so these checks run in every
// `go test`. kfake drops the connection on wrong credentials instead of
// answering SASL_AUTHENTICATION_FAILED as Kafka does, so rejected
// credentials are checked against Apache Kafka in secure_test.go.
func startSecureFake(t *testing.T, pki *testPKI, clientAuth bool) []string {
	t.Helper()
	tc := &tls.Config{Certificates: []tls.Certificate{pki.ServerTLS}, MinVersion: tls.VersionTLS12}
	if clientAuth {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		tc.ClientCAs = pki.CAPool
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(tc), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "saga", "saga-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func TestWaitReadyOverTLSAndSCRAM(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	brokers := startSecureFake(t, pki, false)
	right := bus.Config{
		Brokers: brokers,
		TLS:     bus.TLSConfig{CAFile: pki.CAFile},
		SASL:    bus.SASLConfig{User: "saga", Password: "saga-secret"},
	}
	if err := bus.WaitReady(t.Context(), right); err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	otherCA := right
	otherCA.TLS.CAFile = pki.OtherCAFile
	checkRefused(t, "unrelated CA", otherCA, bus.ErrTLS, "TLS: certificate signed by unknown authority")

	// The other clients word it the same way.
	err := bus.Provision(t.Context(), otherCA, []bus.TopicSpec{{Name: "x"}})
	if !errors.Is(err, bus.ErrTLS) {
		t.Errorf("provision with an unrelated CA: %v", err)
	}
	_, err = bus.NewPublisher(otherCA, nil)
	if !errors.Is(err, bus.ErrTLS) {
		t.Errorf("publisher with an unrelated CA: %v", err)
	}
}

func TestWaitReadyWithClientCertificate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	brokers := startSecureFake(t, pki, true)
	cfg := bus.Config{
		Brokers: brokers,
		TLS:     bus.TLSConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey},
		SASL:    bus.SASLConfig{User: "saga", Password: "saga-secret"},
	}
	if err := bus.WaitReady(t.Context(), cfg); err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
	noCert := cfg
	noCert.TLS.CertFile, noCert.TLS.KeyFile = "", ""
	checkRefused(t, "no client certificate", noCert, bus.ErrTLS, "TLS: the broker rejected the handshake")
}

// checkRefused expects WaitReady to fail with kind at once: well within
// one DialTimeout, which is how long a retried failure would take.
func checkRefused(t *testing.T, name string, cfg bus.Config, kind error, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	err := bus.WaitReady(ctx, cfg)
	took := time.Since(start)
	t.Logf("%s: after %v: %v", name, took.Round(time.Millisecond), err)
	switch {
	case err == nil:
		t.Errorf("%s: WaitReady succeeded", name)
	case !errors.Is(err, kind):
		t.Errorf("%s: error is not %v: %v", name, kind, err)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: error does not say %q: %v", name, want, err)
	case took >= bus.DefaultDialTimeout:
		t.Errorf("%s: took %v: a permanent failure must not be retried for the dial timeout", name, took)
	}
}
