package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// RequestFingerprint identifies what a request asks for: the definition
// and its data, whatever the order of the data's fields or its spacing. A
// repeated idempotency key with another fingerprint is a different request
// reusing the key, not a retry.
func RequestFingerprint(definition string, data json.RawMessage) string {
	canonical := []byte(data)
	var v any
	if err := json.Unmarshal(data, &v); err == nil {
		// Marshalling a decoded value sorts object keys and drops spacing.
		if b, err := json.Marshal(v); err == nil {
			canonical = b
		}
	}
	h := sha256.New()
	h.Write([]byte(definition))
	h.Write([]byte{0})
	h.Write(bytes.TrimSpace(canonical))
	return hex.EncodeToString(h.Sum(nil))
}
