package events

import (
	"errors"
	"fmt"
)

// ErrMalformed marks a message that can never be processed, however often it
// is retried: it belongs on the dead-letter topic with the reason.
var ErrMalformed = errors.New("malformed message")

// MalformedError says what is wrong with a message.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "malformed message: " + e.Reason }

// Is makes errors.Is(err, ErrMalformed) true for every MalformedError.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, args ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, args...)}
}

// Malformed builds a MalformedError; participants use it for commands whose
// payload they cannot act on.
func Malformed(format string, args ...any) error { return malformed(format, args...) }
