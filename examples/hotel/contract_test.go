package hotel_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/servicefile"
)

// The hotel writes down who reads what it writes and who may command it,
// as Python constants: they must be what the product says (events.ReadersOf,
// events.MayWrite), or a change there would leave its records unread or
// its commands unobeyed without a word.
func TestTheHotelSignsForTheProductsReaders(t *testing.T) {
	py := python(t)
	decls, err := servicefile.Load("services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Declare(decls); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
	out, err := exec.Command(py, "-B", "-c", "import json, hotel; print(json.dumps({'readers': hotel.READERS, 'writers': hotel.COMMAND_WRITERS}))").Output()
	if err != nil {
		t.Fatalf("read the hotel's constants: %v", err)
	}
	var got struct {
		Readers map[string][]string `json:"readers"`
		Writers []string            `json:"writers"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{events.TopicReplies, events.DomainTopic(hotel)} {
		want := slices.Clone(events.ReadersOf(topic))
		have := slices.Clone(got.Readers[topic])
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(have, want) {
			t.Errorf("the hotel signs %s for %v; its readers are %v", topic, have, want)
		}
	}
	for _, p := range events.Principals() {
		if may := events.MayWrite(p, events.CommandTopic(hotel)); may != slices.Contains(got.Writers, p) {
			t.Errorf("%s may write %s: %v; the hotel obeys it: %v", p, events.CommandTopic(hotel), may, !may)
		}
	}
}
