package events

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// User types: users are data of the user service, kept in its own log
// (user.events) and keyed by the user id, so a user's registration, its
// blocks and every VerifyUser of it are ordered on one partition.
const (
	RegisterUser Type = "RegisterUser"
	RemoveUser   Type = "RemoveUser"
	BlockUser    Type = "BlockUser"
	UnblockUser  Type = "UnblockUser"

	UserRegistered Type = "UserRegistered"
	UserRemoved    Type = "UserRemoved"
	UserBlocked    Type = "UserBlocked"
	UserUnblocked  Type = "UserUnblocked"
)

// Steps of the user definitions a participant tells apart.
const (
	// StepImportUser is the step of the import saga: only it may register
	// a catalogue user that is not in the log yet (with the very profile of
	// the catalogue), or register a user blocked. A sign-up of a known id
	// is refused, whether the log or the catalogue knows it.
	StepImportUser = "ImportUser"
	// StepWelcome is the sign-up's last step: the notification service
	// welcomes the new user instead of telling of a booking.
	StepWelcome = "SendWelcome"
)

// UserData is a user's profile: the data of the user-signup, register-user,
// block-user and unblock-user sagas (the last two read only the id).
type UserData struct {
	UserID string `json:"user_id"`
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	// Blocked registers the user blocked: only an import (the demo's
	// seeding) sets it; a sign-up never does.
	Blocked bool `json:"blocked,omitempty"`
}

// MaxUserField bounds a user id or name.
const MaxUserField = 64

var userIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// ValidateID checks the user id alone: lower-case letters, digits, dots,
// dashes and underscores, so an id is safe in a path and a token subject.
func (d UserData) ValidateID() error {
	if len(d.UserID) > MaxUserField || !userIDPattern.MatchString(d.UserID) {
		return fmt.Errorf("user_id must be 1 to %d lower-case letters, digits, '.', '-' or '_', got %q", MaxUserField, d.UserID)
	}
	return nil
}

// ValidateShape checks what a sign-up request must carry. The phone is
// only required here: whether it is a valid number is the user service's
// decision (ValidPhone), which fails the sign-up with its reason.
func (d UserData) ValidateShape() error {
	var errs []error
	errs = append(errs, d.ValidateID())
	if strings.TrimSpace(d.Name) == "" || utf8.RuneCountInString(d.Name) > MaxUserField {
		errs = append(errs, fmt.Errorf("name is required and at most %d characters", MaxUserField))
	}
	if d.Phone == "" || utf8.RuneCountInString(d.Phone) > MaxUserField {
		errs = append(errs, fmt.Errorf("phone is required and at most %d characters", MaxUserField))
	}
	return errors.Join(errs...)
}

var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// ValidPhone reports whether phone is an E.164 number such as +15555550100:
// a plus sign and 8 to 15 digits, the first not zero.
func ValidPhone(phone string) bool { return phonePattern.MatchString(phone) }

// UserChangedV1 is the payload of every user event: the command's outcome
// and the profile it concerns (only the id for a block, unblock or removal).
type UserChangedV1 struct {
	Handled
	UserData
}

// Validate checks the reply fields and names the user it is about.
func (p UserChangedV1) Validate() error {
	return errors.Join(p.Handled.Validate(), nonEmpty("user_id", p.UserID))
}
