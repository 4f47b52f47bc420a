package definition

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sagaflow/saga/events"
)

// dataChecks are the built-in checks of a start request's data a file may
// name, each with the fields it guarantees (a step's key must be one).
var dataChecks = map[string]struct {
	check  func(json.RawMessage) error
	fields []string
}{
	"booking": {bookingCheck(events.BookingData.ValidateBooking), []string{"user_id", "show_id", "seats", "payment_token"}},
	"cancel":  {bookingCheck(events.BookingData.ValidateCancel), []string{"user_id", "show_id", "seats"}},
	"show": {func(raw json.RawMessage) error {
		var d events.ShowData
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		return d.Validate()
	}, []string{"show_id"}},
	"user":    {userCheck(events.UserData.ValidateShape), []string{"user_id"}},
	"user-id": {userCheck(events.UserData.ValidateID), []string{"user_id"}},
}

// DataCheckNames lists the data checks a definition may name.
func DataCheckNames() []string {
	return slices.Sorted(maps.Keys(dataChecks))
}

// dataCheck returns the check of a request's data: the named one, else
// one that each required field is present and not empty; and the fields
// a saga's data then has (booking_ref always: the engine adds it).
func dataCheck(name string, required []string) (func(json.RawMessage) error, []string, bool) {
	fields := append([]string{"booking_ref"}, required...)
	var named func(json.RawMessage) error
	if name != "" {
		c, ok := dataChecks[name]
		if !ok {
			return nil, fields, false
		}
		named, fields = c.check, append(fields, c.fields...)
	}
	return func(raw json.RawMessage) error {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return errors.New("data must be a JSON object")
		}
		var errs []error
		if named != nil {
			if err := named(raw); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range required {
			if v, ok := obj[f]; !ok || slices.Contains([]string{`""`, "null"}, string(v)) {
				errs = append(errs, fmt.Errorf("%s is required", f))
			}
		}
		return errors.Join(errs...)
	}, fields, true
}

func bookingCheck(check func(events.BookingData) error) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var d events.BookingData
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		return check(d)
	}
}

func userCheck(check func(events.UserData) error) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var d events.UserData
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		return check(d)
	}
}
