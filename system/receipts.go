package system

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// A reservation's receipt is the booking service's signature over the
// booking reference and the amount it reserved, so that the payment service
// charges what booking priced and nothing else, even if a command that
// reaches it was signed by a key that should not have signed it. The
// "topic" it is signed for is no Kafka topic name (a colon is not allowed
// in one), so no record's signature can pass for a receipt.
const receiptTopic = "receipt:reservation"

func reservationRecord(bookingRef string, amountCents int64) sign.Record {
	return sign.Record{Topic: receiptTopic, Key: bookingRef, Headers: map[string]string{}, Payload: []byte(strconv.FormatInt(amountCents, 10))}
}

// signReservations signs for the payment service with the booking
// service's key; nil without one.
func signReservations(k *sign.Key, ring *sign.Keyring) func(string, int64) *events.Receipt {
	if k == nil || ring == nil {
		return nil
	}
	return func(ref string, amount int64) *events.Receipt {
		h, err := ring.Sign(k, reservationRecord(ref, amount), []string{events.ServicePayment}, time.Now())
		if err != nil {
			return nil // no key of the payment service: the charge is refused, and says so
		}
		r := &events.Receipt{KeyID: h[sign.HeaderKeyID], Signatures: map[string]string{}}
		for name, v := range h {
			if id, ok := strings.CutPrefix(name, sign.HeaderSignaturePrefix); ok {
				r.Signatures[id] = v
			}
		}
		return r
	}
}

var errNoReceipt = errors.New("no receipt of the booking service")

// checkReservations checks receipts with the payment service's key:
// signed by the booking service, for this booking reference and amount.
// Nil without a keyring (signatures off).
func checkReservations(k *sign.Key, ring *sign.Keyring, now func() time.Time) func(events.BookingData) error {
	if k == nil || ring == nil {
		return nil
	}
	return func(d events.BookingData) error {
		if d.Reservation == nil {
			return errNoReceipt
		}
		r := reservationRecord(d.BookingRef, d.AmountCents)
		r.Headers[sign.HeaderKeyID] = d.Reservation.KeyID
		for id, v := range d.Reservation.Signatures {
			r.Headers[sign.HeaderSignaturePrefix+id] = v
		}
		signer, err := ring.Verify(k, r, now())
		if err != nil {
			return fmt.Errorf("%d cents for %s: %w", d.AmountCents, d.BookingRef, err)
		}
		if signer != events.ServiceBooking {
			return fmt.Errorf("the receipt for %s is %s's, not the booking service's", d.BookingRef, signer)
		}
		return nil
	}
}
