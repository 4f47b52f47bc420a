package bus

import (
	"fmt"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
)

// kfakeLogger routes broker logs to zerolog. kfake logs every request at
// info, so info and debug go to trace to keep the default output quiet.
type kfakeLogger struct{ log zerolog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var ev *zerolog.Event
	switch level {
	case kfake.LogLevelError:
		ev = l.log.Error()
	case kfake.LogLevelWarn:
		ev = l.log.Warn()
	default:
		ev = l.log.Trace()
	}
	if ev == nil { // level disabled: skip formatting
		return
	}
	ev.Str("component", "embedded-broker").Msg(fmt.Sprintf(format, args...))
}
