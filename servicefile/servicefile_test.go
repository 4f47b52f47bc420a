package servicefile_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/servicefile"
)

func TestLoadHotel(t *testing.T) {
	decls, err := servicefile.Load(filepath.Join("testdata", "hotel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) != 1 {
		t.Fatalf("got %d services", len(decls))
	}
	h := decls[0]
	if h.Name != "hotel" || h.Key != "booking_ref" || len(h.Commands) != 1 ||
		h.Commands[0] != (events.CommandDecl{Name: "ReserveRoom", Compensation: "ReleaseRoom"}) {
		t.Errorf("got %+v", h)
	}
	var sample map[string]any
	if err := json.Unmarshal(h.Sample, &sample); err != nil || sample["nights"] != 1.0 || sample["user_id"] != "alice" {
		t.Errorf("sample %s: %v", h.Sample, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := servicefile.Load(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "services file") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("services: []\n"+strings.Repeat("#", servicefile.MaxBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := servicefile.Load(path); err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("got %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want []string // every one must be in the error; none means valid
		n    int      // services parsed when valid
	}{
		{name: "json", in: `{"services":[{"name":"car","commands":[{"name":"RentCar","compensation":"ReturnCar"}]}]}`, n: 1},
		{name: "empty list", in: "services: []", n: 0},
		{name: "two", in: "services:\n- {name: a, commands: [{name: A}]}\n- {name: b, key: ref, commands: [{name: B}], sample: {ref: R-1}}", n: 2},
		{name: "not a mapping", in: "- a\n- b", want: []string{"want a mapping"}},
		{name: "no services", in: "{}", want: []string{"services is required"}},
		{name: "not yaml", in: "services: [", want: []string{"not YAML or JSON"}},
		{name: "unknown fields everywhere", in: "servics: 1\nservices:\n- name: a\n  topic: x\n  commands:\n  - {name: A, undo: B}",
			want: []string{"servics: unknown field", "services[0].topic: unknown field", "services[0].commands[0].undo: unknown field"}},
		{name: "wrong type", in: "services:\n- name: [a]\n  commands: []", want: []string{"cannot unmarshal"}},
		{name: "every problem", in: "services:\n- name: booking\n  commands: [{name: ChargePayment}]\n- name: Bad\n  commands: []",
			want: []string{"built-in", `command "ChargePayment"`, `"Bad": name must be`, "at least one command"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			decls, err := servicefile.Parse([]byte(c.in))
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(decls) != c.n {
					t.Fatalf("got %d services, want %d", len(decls), c.n)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", decls)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// FuzzParse feeds the parser what an untrusted file may hold: it must
// never panic, and whatever it accepts is a declaration events accepts.
func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "hotel.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"services":[{"name":"a","commands":[{"name":"A"}],"sample":{}}]}`))
	f.Add([]byte("services: &a [*a]"))
	f.Add([]byte("services:\n- name: a\n  commands: [{name: A, compensation: A}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		decls, err := servicefile.Parse(data)
		if err != nil {
			return
		}
		if err := events.ValidateServices(decls); err != nil {
			t.Fatalf("parsed a declaration events refuses: %v", err)
		}
	})
}
