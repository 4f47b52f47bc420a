package system_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// TestPythonSignsARequest posts a booking request signed by the README's
// Python signer (examples/sign.py) with the client's key file: a client in
// another language writes records the system obeys, by the documented
// scheme alone.
func TestPythonSignsARequest(t *testing.T) {
	py := os.Getenv("SAGA_PYTHON")
	if py == "" {
		py = "python3"
	}
	if err := exec.Command(py, "-c", "import cryptography").Run(); err != nil {
		t.Skipf("%s has no cryptography package (pip install cryptography; SAGA_PYTHON names another python)", py)
	}
	h := newHarness(t)
	h.run()
	req, err := client.BookingRequest(client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok", IdempotencyKey: "signed-in-python"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{events.HeaderID: req.ID}
	events.PutHeaders(hdr, req)
	delete(hdr, events.MetaKey)
	topic := h.cfg.Topic(events.TopicRequests)
	args := []string{"../examples/sign.py", "--key-file", filepath.Join(h.keyDir, events.PrincipalClient+".key"),
		"--keyring", filepath.Join(h.keyDir, sign.KeyringFile), "--reader", events.PrincipalOrchestrator, "--topic", topic, "--record-key", req.Key}
	for k, v := range hdr {
		args = append(args, "-H", k+"="+v)
	}
	cmd := exec.Command(py, args...)
	cmd.Stdin = bytes.NewReader(req.Payload)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sign.py: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		hdr[k] = v
	}
	if hdr[sign.HeaderSignaturePrefix+h.keys[events.PrincipalOrchestrator].ID] == "" || hdr[sign.HeaderKeyID] != h.keys[events.PrincipalClient].ID {
		t.Fatalf("sign.py printed %q", out)
	}
	h.send(events.TopicRequests, req.Key, req.Payload, hdr)
	if v := h.wait(client.Receipt{SagaID: req.SagaID}); v.Status != "completed" {
		t.Fatalf("the booking signed in Python ended %s: %s", v.Status, v.Reason)
	}
}
