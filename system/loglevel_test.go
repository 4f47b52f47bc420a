package system_test

import (
	"os"

	"github.com/rs/zerolog"
)

// testLogLevel is warn unless SAGA_TEST_LOG names another level.
var testLogLevel = func() zerolog.Level {
	if l, err := zerolog.ParseLevel(os.Getenv("SAGA_TEST_LOG")); err == nil && l != zerolog.NoLevel {
		return l
	}
	return zerolog.WarnLevel
}()
