package webhook_test

import (
	"testing"

	"github.com/sagaflow/saga/api/webhook"
)

// TestSignMatchesTheSpecification checks Sign against the example of the
// Standard Webhooks specification's reference libraries.
func TestSignMatchesTheSpecification(t *testing.T) {
	got, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if _, err := webhook.Sign("not-a-secret", "id", 1, nil); err == nil {
		t.Error("a secret without whsec_ was used")
	}
}

func TestGuard(t *testing.T) {
	g := webhook.Guard{Allow: []string{"hooks.example.com", ".corp.example", "10.0.0.7"}}
	cases := map[string]bool{
		"http://127.0.0.1:9000/hook":         true,
		"http://[::1]:9000/hook":             true,
		"http://localhost/hook":              true,
		"https://hooks.example.com/x":        true,
		"https://a.corp.example/x":           true,
		"https://corp.example/x":             true,
		"http://10.0.0.7/x":                  true,
		"http://10.0.0.8/x":                  false,
		"https://example.com/x":              false,
		"https://evilcorp.example/x":         false,
		"http://169.254.169.254/latest/meta": false,
		"http://[fd00:ec2::254]/":            false,
		"http://169.254.1.1/":                false,
		"http://0.0.0.0/":                    false,
		"ftp://127.0.0.1/":                   false,
		"http://user:pw@127.0.0.1/":          false,
		"/relative":                          false,
		"http://[::ffff:169.254.169.254]/":   false,
	}
	for u, want := range cases {
		if err := g.Check(u); (err == nil) != want {
			t.Errorf("Check(%q) = %v, want allowed %v", u, err, want)
		}
	}
	if err := (webhook.Guard{Allow: []string{"169.254.169.254"}}).Check("http://169.254.169.254/"); err == nil {
		t.Error("a listed metadata address was allowed")
	}
}
