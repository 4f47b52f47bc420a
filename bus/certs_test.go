package bus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a throwaway PKI written as PEM files into a temp dir: a CA,
// a server certificate for 127.0.0.1 and localhost and a client
// certificate (both signed by the CA), and an unrelated CA.
type testPKI struct {
	CAFile, OtherCAFile          string
	ServerCertFile, ServerKey    string // chain (server, CA) and PKCS#8 key
	ClientCertFile, ClientKey    string
	ServerChainPEM, ServerKeyPEM []byte
	ServerTLS                    tls.Certificate
	CAPool                       *x509.CertPool
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "saga test CA")
	other := newTestCA(t, "unrelated CA")
	p := &testPKI{
		CAFile:      writeFile(t, dir, "ca.pem", ca.pem),
		OtherCAFile: writeFile(t, dir, "other-ca.pem", other.pem),
		CAPool:      x509.NewCertPool(),
	}
	p.CAPool.AddCert(ca.cert)

	serverPEM, serverKey := ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ServerChainPEM = append(serverPEM, ca.pem...)
	p.ServerKeyPEM = serverKey
	p.ServerCertFile = writeFile(t, dir, "server-chain.pem", p.ServerChainPEM)
	p.ServerKey = writeFile(t, dir, "server-key.pem", serverKey)
	var err error
	if p.ServerTLS, err = tls.X509KeyPair(p.ServerChainPEM, serverKey); err != nil {
		t.Fatal(err)
	}

	clientPEM, clientKey := ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "saga-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.ClientCertFile = writeFile(t, dir, "client.pem", clientPEM)
	p.ClientKey = writeFile(t, dir, "client-key.pem", clientKey)
	return p
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate; the key is PKCS#8 ("PRIVATE KEY"),
// the only unencrypted form Kafka's PEM key store reads.
func (ca *testCA) issue(t testing.TB, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
