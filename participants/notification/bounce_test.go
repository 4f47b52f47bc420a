package notification_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/notification"
	"github.com/sagaflow/saga/participants/service"
)

const (
	delivered = events.OutcomeSucceeded
	bounced   = events.OutcomeRetryable
)

// Carol's phone bounces the first CarolBounces attempts of every message;
// she still gets exactly one message per booking and step.
func TestCarolBounces(t *testing.T) {
	carol := demo.UserCarol
	book := send{saga: "s1", step: "SendNotification", ref: "BK-1", user: carol}
	cancel := send{saga: "s2", step: notification.StepNotifyCancelled, ref: "BK-1", user: carol}
	at := func(c send, n int) send { c.attempt = n; return c }
	in := func(c send, saga string) send { c.saga = saga; return c }
	const last = demo.CarolBounces
	type try struct {
		c    send
		want string // outcome
	}
	var untilDelivered []try
	for n := 1; n <= last; n++ {
		untilDelivered = append(untilDelivered, try{at(book, n), bounced})
	}
	untilDelivered = append(untilDelivered, try{at(book, last+1), delivered})
	tests := []struct {
		name  string
		tries []try
		want  []string // carol's messages
	}{
		{"first attempt bounces", []try{{at(book, 1), bounced}}, nil},
		{"every attempt up to CarolBounces bounces", untilDelivered[:last], nil},
		{"the next attempt delivers", untilDelivered, []string{confirmed}},
		{"later attempts send nothing more", append(untilDelivered[:last+1:last+1],
			try{at(book, last+2), delivered}, try{at(book, last+9), delivered}), []string{confirmed}},
		{"same command id twice bounces twice", []try{{at(book, 1), bounced}, {at(book, 1), bounced}}, nil},
		{"a bounce redelivered after the delivery is the same bounce", append(untilDelivered[:last+1:last+1],
			try{at(book, 2), bounced}), []string{confirmed}},
		{"the delivery redelivered", append(untilDelivered[:last+1:last+1],
			try{at(book, last+1), delivered}), []string{confirmed}},
		{"an early attempt of another saga after the delivery sends nothing", append(untilDelivered[:last+1:last+1],
			try{in(at(book, 1), "s9"), delivered}), []string{confirmed}},
		{"an attempt beyond the bounces delivers at once", []try{{at(book, last+1), delivered}}, []string{confirmed}},
		{"cancellation bounces too", []try{
			{at(cancel, 1), bounced}, {at(cancel, last), bounced}, {at(cancel, last+1), delivered}, {at(cancel, last+2), delivered},
		}, []string{cancelled}},
		{"each step bounces on its own", append(untilDelivered[:last+1:last+1],
			try{at(cancel, 1), bounced}, try{at(cancel, last+1), delivered}), []string{confirmed, cancelled}},
		{"each booking bounces on its own", []try{
			{at(book, last+1), delivered},
			{send{saga: "s3", step: "SendNotification", ref: "BK-2", user: carol, attempt: 1}, bounced},
			{send{saga: "s3", step: "SendNotification", ref: "BK-2", user: carol, attempt: last + 1}, delivered},
		}, []string{confirmed, "Your booking BK-2 for 2 seat(s) at show-1 is confirmed."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			answers := map[string]events.Envelope{}
			for i, tr := range tt.tries {
				ev, n := h.run(tr.c)
				if n.Outcome != tr.want {
					t.Fatalf("try %d (attempt %d): outcome %s %q, want %s", i, tr.c.attempt, n.Outcome, n.Reason, tr.want)
				}
				if n.Outcome == bounced && n.Reason != notification.ReasonBounced {
					t.Fatalf("try %d: bounce reason %q", i, n.Reason)
				}
				if n.Step != tr.c.step || n.Message != notification.Message(events.BookingData{BookingRef: tr.c.ref, ShowID: "show-1", Seats: 2},
					tr.c.step == notification.StepNotifyCancelled) {
					t.Fatalf("try %d: step %q message %q", i, n.Step, n.Message)
				}
				if prev, seen := answers[ev.CausationID]; seen && !reflect.DeepEqual(prev, ev) {
					t.Fatalf("try %d: the same command got another answer", i)
				}
				answers[ev.CausationID] = ev
				if got := h.Svc.Delivered(tr.c.ref, tr.c.step); got != slices.Contains(h.Svc.Sent(carol), n.Message) {
					t.Fatalf("try %d: Delivered=%v but sent %q", i, got, h.Svc.Sent(carol))
				}
			}
			if got := h.Svc.Sent(carol); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("carol got %q, want %q", got, tt.want)
			}
			h.CheckFold()
		})
	}
}

// Nobody else's messages bounce, whatever the attempt.
func TestOthersDoNotBounce(t *testing.T) {
	for _, user := range []string{"alice", "bob"} {
		h := newHarness(t)
		for n := 1; n <= demo.CarolBounces+1; n++ {
			if _, out := h.run(send{saga: "s-" + user, step: "SendNotification", ref: "BK-1", user: user, attempt: n}); out.Outcome != delivered {
				t.Fatalf("%s attempt %d: %s %q", user, n, out.Outcome, out.Reason)
			}
		}
		if got := h.Svc.Sent(user); !reflect.DeepEqual(got, []string{confirmed}) {
			t.Fatalf("%s got %q", user, got)
		}
	}
}

// A bounce folded alone delivers nothing; its command id is remembered.
func TestApplyBounce(t *testing.T) {
	h := newHarness(t)
	c := send{saga: "s1", step: "SendNotification", ref: "BK-1", user: demo.UserCarol, attempt: 1}
	ev, _ := h.run(c)
	s := notification.New(demo.Phones{})
	once := service.NewOnce(s)
	if folded, err := once.Apply(ev); err != nil || !folded {
		t.Fatalf("folded=%v err=%v", folded, err)
	}
	if len(s.Sent(demo.UserCarol)) != 0 || s.Delivered("BK-1", "SendNotification") {
		t.Fatalf("a bounce delivered %q", s.Sent(demo.UserCarol))
	}
	cmd, p := c.build(t)
	again, err := once.Handle(cmd, p, t0)
	if err != nil || !again.Repeat || !reflect.DeepEqual(again.Reply, events.MustDecode[events.NotificationSentV2](ev).Handled) {
		t.Fatalf("redelivery after the fold: err=%v %+v", err, again)
	}
}
