package metrics

import (
	"strings"
	"unicode"
)

// reasons are the label values saga_dlq_messages_total may carry: the
// first word of a dead letter's reason when it is one of them, "other"
// when not, so a free-text reason never becomes a label.
var reasons = map[string]bool{
	"unsigned": true, "bad_signature": true, "signer_not_allowed": true, "unknown_command": true,
	"malformed": true, "panic": true,
}

// Reason is the label of a dead letter's reason: its first word
// (lower-cased, up to a space, colon or comma) when that is a known code,
// "other" otherwise.
func Reason(reason string) string {
	reason = strings.TrimSpace(reason)
	end := strings.IndexFunc(reason, func(r rune) bool { return unicode.IsSpace(r) || r == ':' || r == ',' })
	if end >= 0 {
		reason = reason[:end]
	}
	reason = strings.ToLower(reason)
	if reasons[reason] {
		return reason
	}
	return "other"
}
