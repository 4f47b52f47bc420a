// Package flows holds the saga definitions the product ships. They are
// data for the generic engine in package saga: no step has code of its own.
package flows

import (
	"encoding/json"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Definition names, as written in StartSaga requests.
const (
	BookTicket    = "book-ticket"
	CancelBooking = "cancel-booking"
	AddShow       = "add-show"
)

// Timings are the deadlines and retry policies of the shipped definitions.
type Timings struct {
	// StepTimeout bounds one attempt of a step or a compensation.
	StepTimeout time.Duration
	// StepRetry retries transient failures and timeouts of forward steps.
	StepRetry saga.RetryPolicy
	// CompensationRetry retries compensations; when it is used up the saga
	// is parked as failed for an operator.
	CompensationRetry saga.RetryPolicy
}

// DefaultTimings suit services that answer in milliseconds.
func DefaultTimings() Timings {
	return Timings{
		StepTimeout:       10 * time.Second,
		StepRetry:         saga.RetryPolicy{MaxAttempts: 3, Backoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second},
		CompensationRetry: saga.RetryPolicy{MaxAttempts: 5, Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second},
	}
}

// BookTicketDefinition books seats: verify the user, reserve seats, charge,
// confirm (the pivot), notify.
func BookTicketDefinition() saga.Definition { return BookTicketWith(DefaultTimings()) }

// BookTicketWith is BookTicketDefinition with other timings.
func BookTicketWith(t Timings) saga.Definition {
	stepTimeout, stepRetry, compRetry := t.StepTimeout, t.StepRetry, t.CompensationRetry
	return saga.Definition{
		Name: BookTicket,
		Steps: []saga.Step{
			{Name: "VerifyUser", Service: events.ServiceUser, Command: events.VerifyUser, KeyField: "user_id", Timeout: stepTimeout, Retry: stepRetry},
			{Name: "ReserveSeats", Service: events.ServiceBooking, Command: events.ReserveSeats, Compensation: events.ReleaseSeats, KeyField: "show_id", Timeout: stepTimeout, Retry: stepRetry},
			{Name: "ChargePayment", Service: events.ServicePayment, Command: events.ChargePayment, Compensation: events.RefundPayment, KeyField: "booking_ref", Timeout: stepTimeout, Retry: stepRetry,
				Secrets: []string{"payment_token"}},
			{Name: "ConfirmBooking", Service: events.ServiceBooking, Command: events.ConfirmBooking, KeyField: "show_id", Timeout: stepTimeout, Retry: stepRetry, Pivot: true},
			{Name: "SendNotification", Service: events.ServiceNotification, Command: events.SendNotification, KeyField: "user_id", Timeout: stepTimeout, Retry: stepRetry},
		},
		CompensationRetry: compRetry,
		ValidateData:      validate(events.BookingData.ValidateBooking),
		RefFromSagaID:     true,
	}
}

// CancelBookingDefinition undoes a confirmed booking: refund (the point of
// no return), release the seats, tell the user.
func CancelBookingDefinition() saga.Definition { return CancelBookingWith(DefaultTimings()) }

// CancelBookingWith is CancelBookingDefinition with other timings.
func CancelBookingWith(t Timings) saga.Definition {
	stepTimeout, stepRetry, compRetry := t.StepTimeout, t.StepRetry, t.CompensationRetry
	return saga.Definition{
		Name: CancelBooking,
		Steps: []saga.Step{
			{Name: "RefundPayment", Service: events.ServicePayment, Command: events.RefundPayment, KeyField: "booking_ref", Timeout: stepTimeout, Retry: stepRetry, Pivot: true},
			{Name: "ReleaseSeats", Service: events.ServiceBooking, Command: events.ReleaseSeats, KeyField: "show_id", Timeout: stepTimeout, Retry: stepRetry},
			{Name: "NotifyCancelled", Service: events.ServiceNotification, Command: events.SendNotification, KeyField: "user_id", Timeout: stepTimeout, Retry: stepRetry},
		},
		CompensationRetry: compRetry,
		ValidateData:      validate(events.BookingData.ValidateCancel),
	}
}

// All returns every shipped definition, validated.
func All() saga.Definitions {
	defs, err := AllWith(DefaultTimings())
	if err != nil {
		panic("shipped saga definitions are invalid: " + err.Error())
	}
	return defs
}

// AllWith returns every shipped definition with the given timings.
func AllWith(t Timings) (saga.Definitions, error) {
	return saga.NewDefinitions(BookTicketWith(t), CancelBookingWith(t), AddShowWith(t),
		UserSignupWith(t), ImportUserWith(t), BlockUserWith(t), UnblockUserWith(t))
}

// AddShowWith lists a new show: one step, at the booking service, which
// owns the seats. Nothing to undo: a show that cannot be listed is refused.
func AddShowWith(t Timings) saga.Definition {
	return saga.Definition{
		Name: AddShow,
		Steps: []saga.Step{
			// Listing has an effect nothing undoes: the step is the pivot, so
			// an unanswered attempt is asked again until it answers.
			{Name: "AddShow", Service: events.ServiceBooking, Command: events.AddShow, KeyField: "show_id", Timeout: t.StepTimeout, Retry: t.StepRetry, Pivot: true},
		},
		CompensationRetry: t.CompensationRetry,
		ValidateData: func(raw json.RawMessage) error {
			var d events.ShowData
			if err := json.Unmarshal(raw, &d); err != nil {
				return err
			}
			return d.Validate()
		},
	}
}

func validate(check func(events.BookingData) error) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var d events.BookingData
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		return check(d)
	}
}

// User definition names.
const (
	UserSignup = "user-signup"
	ImportUser = "import-user"
	BlockUser  = "block-user"
	Unblock    = "unblock-user"
)

// UserSignupWith signs a new user up: register the user (compensated by
// removing them again), then welcome them. A taken id or an invalid phone
// fails the registration, and with it the saga, with its reason.
func UserSignupWith(t Timings) saga.Definition {
	return saga.Definition{
		Name: UserSignup,
		Steps: []saga.Step{
			{Name: "RegisterUser", Service: events.ServiceUser, Command: events.RegisterUser, Compensation: events.RemoveUser, KeyField: "user_id", Timeout: t.StepTimeout, Retry: t.StepRetry},
			{Name: events.StepWelcome, Service: events.ServiceNotification, Command: events.SendNotification, KeyField: "user_id", Timeout: t.StepTimeout, Retry: t.StepRetry},
		},
		CompensationRetry: t.CompensationRetry,
		ValidateData:      validateUser(events.UserData.ValidateShape),
	}
}

// ImportUserWith registers a user known from a directory (the demo's
// catalogue) in the user log: one step, nothing to undo, no welcome.
func ImportUserWith(t Timings) saga.Definition {
	return oneUserStep(t, ImportUser, events.StepImportUser, events.RegisterUser)
}

// BlockUserWith blocks a user: VerifyUser refuses them from then on.
func BlockUserWith(t Timings) saga.Definition {
	return oneUserStep(t, BlockUser, "BlockUser", events.BlockUser)
}

// UnblockUserWith lets a blocked user book again.
func UnblockUserWith(t Timings) saga.Definition {
	return oneUserStep(t, Unblock, "UnblockUser", events.UnblockUser)
}

// oneUserStep is a definition of one step at the user service. The step
// is the pivot: an unanswered attempt is asked again until it answers.
func oneUserStep(t Timings, name, step, command string) saga.Definition {
	return saga.Definition{
		Name: name,
		Steps: []saga.Step{
			{Name: step, Service: events.ServiceUser, Command: command, KeyField: "user_id", Timeout: t.StepTimeout, Retry: t.StepRetry, Pivot: true},
		},
		CompensationRetry: t.CompensationRetry,
		ValidateData:      validateUser(events.UserData.ValidateID),
	}
}

func validateUser(check func(events.UserData) error) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var d events.UserData
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		return check(d)
	}
}
