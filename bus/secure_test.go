package bus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
)

// EnvKafkaLibs points TestSecureKafka at the Apache Kafka jars; get them
// with `scripts/kafka.sh libs`.
const EnvKafkaLibs = "KAFKA_LIBS"

// The one SCRAM user the broker's storage is formatted with.
const (
	secureUser     = "saga"
	securePassword = "saga-secret"
)

// TestSecureKafka runs Apache Kafka with a SASL_SSL listener
// (SCRAM-SHA-512, certificates made here) and checks that saga connects
// with the right credentials and is refused, clearly and at once, with
// wrong ones. One broker serves every subtest: it takes seconds to start.
func TestSecureKafka(t *testing.T) {
	libs := kafkaLibs(t, "Secure")
	pki := newTestPKI(t)
	k := startSecureKafka(t, libs, pki)

	right := bus.Config{
		Brokers:   []string{k.addr},
		Namespace: "secure",
		TLS:       bus.TLSConfig{CAFile: pki.CAFile},
		SASL:      bus.SASLConfig{Mechanism: bus.MechanismSCRAMSHA512, User: secureUser, Password: securePassword},
	}

	t.Run("right credentials", func(t *testing.T) {
		start := time.Now()
		provision(t, right, bus.TopicSpec{Name: "secure.events", Partitions: 1})
		publish(t, right, right.Topic("secure.events"), keyed("k", "one"), keyed("k", "two"), keyed("k", "three"))
		got := payloads(readAll(t, right, right.Topic("secure.events")))
		if strings.Join(got, ",") != "one,two,three" {
			t.Errorf("read back %v, want [one two three]", got)
		}
		t.Logf("provisioned, published and read back over SASL_SSL in %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("wrong password", func(t *testing.T) {
		cfg := right
		cfg.SASL.Password = "not-the-password"
		checkRefused(t, "WaitReady", cfg, bus.ErrAuthentication, `authentication failed for user "saga"`)
		// The other clients say the same, without retrying either.
		err := bus.Provision(t.Context(), cfg, []bus.TopicSpec{{Name: "secure.other"}})
		if !errors.Is(err, bus.ErrAuthentication) {
			t.Errorf("Provision: %v", err)
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		cfg := right
		cfg.SASL.User = "nobody"
		checkRefused(t, "WaitReady", cfg, bus.ErrAuthentication, `authentication failed for user "nobody"`)
	})

	t.Run("mechanism not enabled", func(t *testing.T) {
		cfg := right
		cfg.SASL.Mechanism = bus.MechanismSCRAMSHA256
		checkRefused(t, "WaitReady", cfg, bus.ErrAuthentication, "SASL mechanism")
	})

	t.Run("unrelated CA", func(t *testing.T) {
		cfg := right
		cfg.TLS.CAFile = pki.OtherCAFile
		checkRefused(t, "WaitReady", cfg, bus.ErrTLS, "TLS: certificate")
	})

	t.Run("no TLS", func(t *testing.T) {
		cfg := right
		cfg.TLS = bus.TLSConfig{}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		start := time.Now()
		err := bus.WaitReady(ctx, cfg)
		took := time.Since(start)
		t.Logf("plaintext to the SASL_SSL port: after %v: %v", took.Round(time.Millisecond), err)
		switch {
		case err == nil:
			t.Fatal("WaitReady succeeded without TLS")
		case ctx.Err() != nil:
			t.Fatalf("WaitReady only stopped when the test's context ended: %v", err)
		case !errors.Is(err, bus.ErrTLS) || !strings.Contains(err.Error(), k.addr) || !strings.Contains(err.Error(), "expects TLS"):
			t.Errorf("error does not name the broker and say it expects TLS: %v", err)
		}
	})

	t.Run("no credentials", func(t *testing.T) {
		cfg := right
		cfg.SASL = bus.SASLConfig{}
		checkRefused(t, "WaitReady", cfg, bus.ErrAuthentication, "authentication required")
	})

	// The broker-to-broker listener is PLAINTEXT: a client configured for
	// SASL_SSL that is pointed at it hears why it cannot work.
	t.Run("TLS to a plaintext listener", func(t *testing.T) {
		cfg := right
		cfg.Brokers = []string{k.internal}
		cfg.SASL = bus.SASLConfig{}
		checkRefused(t, "WaitReady", cfg, bus.ErrTLS, "plaintext listener")
	})
	t.Run("SASL to a plaintext listener", func(t *testing.T) {
		cfg := right
		cfg.Brokers = []string{k.internal}
		cfg.TLS = bus.TLSConfig{}
		checkRefused(t, "WaitReady", cfg, bus.ErrAuthentication, "does not expect SASL")
	})
}

// kafkaLibs is $KAFKA_LIBS, checked; the test is skipped when it is not
// set. run is the -run pattern the skip message suggests.
func kafkaLibs(t *testing.T, run string) string {
	t.Helper()
	libs := os.Getenv(EnvKafkaLibs)
	if libs == "" {
		t.Skipf("%s is not set; to run against Apache Kafka: %s=$(bash scripts/kafka.sh libs) go test -run %s ./bus/", EnvKafkaLibs, EnvKafkaLibs, run)
	}
	if jars, _ := filepath.Glob(filepath.Join(libs, "kafka_*.jar")); len(jars) == 0 {
		t.Fatalf("%s=%s holds no Kafka jars (kafka_*.jar); `bash scripts/kafka.sh libs` prints the right directory", EnvKafkaLibs, libs)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("%s is set but java is not on PATH: %v", EnvKafkaLibs, err)
	}
	return libs
}

// secureOptions add to the broker of startSecureKafka.
type secureOptions struct {
	// props are more server.properties lines.
	props []string
	// users are more SCRAM-SHA-512 users, name to password, besides
	// secureUser.
	users map[string]string
}

type secureKafka struct {
	addr     string // the SASL_SSL listener
	internal string // the PLAINTEXT broker-to-broker listener
	log      string
}

// startSecureKafka formats a fresh single KRaft node and runs it until
// the test ends. Its settings follow scripts/kafka.sh; the client listener
// is SASL_SSL, while the controller and broker-to-broker listeners stay
// PLAINTEXT on loopback.
func startSecureKafka(t *testing.T, libs string, pki *testPKI, opts ...secureOptions) *secureKafka {
	t.Helper()
	var opt secureOptions
	for _, o := range opts {
		opt.props = append(opt.props, o.props...)
		for u, p := range o.users {
			if opt.users == nil {
				opt.users = map[string]string{}
			}
			opt.users[u] = p
		}
	}
	dir := t.TempDir()
	ports := freePorts(t, 3)
	controller, internal, client := ports[0], ports[1], ports[2]
	k := &secureKafka{
		addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(client)),
		internal: net.JoinHostPort("127.0.0.1", strconv.Itoa(internal)),
		log:      filepath.Join(dir, "kafka.log"),
	}

	props := strings.Join([]string{
		"process.roles=broker,controller",
		"node.id=1",
		fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", controller),
		fmt.Sprintf("listeners=INTERNAL://127.0.0.1:%d,SASL_SSL://%s,CONTROLLER://127.0.0.1:%d", internal, k.addr, controller),
		fmt.Sprintf("advertised.listeners=INTERNAL://127.0.0.1:%d,SASL_SSL://%s", internal, k.addr),
		"listener.security.protocol.map=INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"controller.listener.names=CONTROLLER",
		"log.dirs=" + filepath.Join(dir, "data"),
		"",
		"sasl.enabled.mechanisms=SCRAM-SHA-512",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		// A PEM key store given by file needs an encrypted key
		// (ssl.key.password); inline values take the plain PKCS#8 key.
		"ssl.keystore.type=PEM",
		"ssl.keystore.certificate.chain=" + propValue(pki.ServerChainPEM),
		"ssl.keystore.key=" + propValue(pki.ServerKeyPEM),
		"",
		"auto.create.topics.enable=false",
		"num.partitions=1",
		"default.replication.factor=1",
		"min.insync.replicas=1",
		"offsets.topic.replication.factor=1",
		"offsets.topic.num.partitions=10",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"transaction.state.log.num.partitions=10",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
		"num.network.threads=2",
		"num.io.threads=4",
		"num.recovery.threads.per.data.dir=1",
		"",
	}, "\n") + strings.Join(append(opt.props, ""), "\n")
	propsFile := writeFile(t, dir, "server.properties", []byte(props))
	log4j := writeFile(t, dir, "log4j2.properties", []byte(strings.Join([]string{
		"status = warn",
		"appender.stdout.type = Console",
		"appender.stdout.name = STDOUT",
		"appender.stdout.layout.type = PatternLayout",
		"appender.stdout.layout.pattern = [%d] %p %m (%c)%n",
		"rootLogger.level = INFO",
		"rootLogger.appenderRef.stdout.ref = STDOUT",
		"",
	}, "\n")))
	cp := filepath.Join(libs, "*") // expanded by java, not a shell

	// Format storage with the SCRAM user in its first metadata records.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"-Xmx128m", "-XX:TieredStopAtLevel=1",
		"-Dlog4j2.configurationFile=" + log4j, "-cp", cp,
		"kafka.tools.StorageTool", "format", "--cluster-id", newClusterID(t), "--config", propsFile,
		"--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", secureUser, securePassword)}
	for _, u := range slices.Sorted(maps.Keys(opt.users)) {
		args = append(args, "--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", u, opt.users[u]))
	}
	format := exec.CommandContext(ctx, "java", args...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format storage: %v\n%s", err, out)
	}

	logFile, err := os.Create(k.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("java", "-Xmx384m", "-Xms128m", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true", "-Dlog4j2.configurationFile="+log4j,
		"-cp", cp, "kafka.Kafka", propsFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	killWithParent(cmd)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kafka: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", k.log, tail(k.log, 40))
		}
	})

	// Ready when saga can authenticate and read metadata.
	ready := bus.Config{Brokers: []string{k.addr}, TLS: bus.TLSConfig{CAFile: pki.CAFile},
		SASL: bus.SASLConfig{User: secureUser, Password: securePassword}}
	bustestEventually(t, 90*time.Second, func() (bool, string) {
		err := bus.WaitReady(context.Background(), ready)
		if err == nil {
			return true, ""
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			t.Fatalf("kafka exited during startup (%v); last lines of %s:\n%s", werr, k.log, tail(k.log, 40))
		default:
		}
		return false, fmt.Sprintf("kafka not ready: %v", err)
	})
	t.Logf("Apache Kafka ready at %s (SASL_SSL) in %v; log %s", k.addr, time.Since(start).Round(time.Millisecond), k.log)
	return k
}

// freePorts returns n distinct loopback ports that were free a moment
// ago; all are held until all are found, so none repeats.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// newClusterID makes a KRaft cluster id as scripts/kafka.sh does: 16
// random bytes, base64url without padding, not starting with '-'.
func newClusterID(t *testing.T) string {
	t.Helper()
	for {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

// propValue escapes a multi-line value for a Java properties file.
func propValue(b []byte) string {
	s := strings.ReplaceAll(string(b), `\`, `\\`)
	return strings.ReplaceAll(s, "\n", `\n`)
}

func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
