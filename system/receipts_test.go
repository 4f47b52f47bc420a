package system

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

func TestReservationReceipts(t *testing.T) {
	keys, ring, err := sign.EnsureDir(t.TempDir(), events.Principals(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	byBooking := signReservations(keys[events.ServiceBooking], ring)
	byNotification := signReservations(keys[events.ServiceNotification], ring)
	check := checkReservations(keys[events.ServicePayment], ring, time.Now)
	charge := func(ref string, amount int64, r *events.Receipt) events.BookingData {
		return events.BookingData{BookingRef: ref, AmountCents: amount, Reservation: r}
	}
	good := byBooking("BK-1", 5000)
	cases := []struct {
		name string
		d    events.BookingData
		want string // "" for accepted
	}{
		{"the amount booking reserved", charge("BK-1", 5000, good), ""},
		{"another amount", charge("BK-1", 99_999_900, good), "bad signature"},
		{"another booking", charge("BK-2", 5000, good), "bad signature"},
		{"no receipt", charge("BK-1", 5000, nil), errNoReceipt.Error()},
		{"a receipt another service signed", charge("BK-1", 5000, byNotification("BK-1", 5000)), "not the booking service's"},
		{"a receipt with its signatures dropped", charge("BK-1", 5000, &events.Receipt{KeyID: good.KeyID}), "bad signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := check(c.d)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("check = %v, want it refused mentioning %q", err, c.want)
			}
		})
	}
	if signReservations(nil, ring) != nil || checkReservations(nil, ring, time.Now) != nil || checkReservations(keys[events.ServicePayment], nil, time.Now) != nil {
		t.Error("without keys, receipts are made or checked")
	}
	if !errors.Is(check(charge("BK-1", 5000, nil)), errNoReceipt) {
		t.Error("a charge without a receipt is not refused as such")
	}
}
