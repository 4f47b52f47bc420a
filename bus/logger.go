package bus

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/rs/zerolog"
)

// NewWatermillLogger adapts zerolog for Watermill. Watermill's debug and
// trace output is per-message chatter, so both map to zerolog trace and
// stay silent unless the caller asks for trace; info and error keep their
// level.
func NewWatermillLogger(log zerolog.Logger) watermill.LoggerAdapter {
	return watermillLogger{log: log}
}

type watermillLogger struct{ log zerolog.Logger }

func (l watermillLogger) Error(msg string, err error, fields watermill.LogFields) {
	l.log.Error().Err(err).Fields(map[string]any(fields)).Msg(msg)
}

func (l watermillLogger) Info(msg string, fields watermill.LogFields) {
	l.log.Info().Fields(map[string]any(fields)).Msg(msg)
}

func (l watermillLogger) Debug(msg string, fields watermill.LogFields) {
	l.log.Trace().Fields(map[string]any(fields)).Msg(msg)
}

func (l watermillLogger) Trace(msg string, fields watermill.LogFields) {
	l.log.Trace().Fields(map[string]any(fields)).Msg(msg)
}

func (l watermillLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return watermillLogger{log: l.log.With().Fields(map[string]any(fields)).Logger()}
}
