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

// Reasons a record is refused before anything acts on it. The reason of
// its dead letter starts with one of them.
const (
	RefusedUnsigned         = "unsigned"
	RefusedBadSignature     = "bad_signature"
	RefusedSignerNotAllowed = "signer_not_allowed"
	RefusedUnknownCommand   = "unknown_command"
)

// ErrRefused matches every RefusedError.
var ErrRefused = errors.New("refused message")

// RefusedError says why a record was not obeyed: who wrote it is not
// known, or it is not theirs to write. Like a malformed message it can
// never be processed, so it is dead-lettered, with Code first in its reason.
type RefusedError struct{ Code, Detail string }

func (e *RefusedError) Error() string { return e.Code + ": " + e.Detail }

// Is makes errors.Is true for ErrRefused and ErrMalformed.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused || target == ErrMalformed }

// Refused builds a RefusedError.
func Refused(code, format string, args ...any) error {
	return &RefusedError{Code: code, Detail: fmt.Sprintf(format, args...)}
}
