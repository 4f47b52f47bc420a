package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// RequestFingerprint identifies what a StartSaga request asks for, so that
// a reused idempotency key can be told from a retried request: two
// requests with one key are the same request exactly when their
// fingerprints are equal. It is the SHA-256, in hex, of the definition and
// the data in a canonical form (object keys sorted, insignificant space
// dropped, numbers as written), so field order and formatting do not
// matter. Data that is not JSON is fingerprinted as its bytes.
func RequestFingerprint(definition string, data json.RawMessage) string {
	h := sha256.New()
	h.Write([]byte(definition))
	h.Write([]byte{0})
	h.Write(canonical(data))
	return hex.EncodeToString(h.Sum(nil))
}

// StartedFingerprint is the RequestFingerprint of request's fields as the
// saga holds them: a saga's data is its start request's data merged with
// its steps' results, which add fields but do not change the request's.
// It equals RequestFingerprint(definition, request) exactly when the saga
// was started with the fields request gives.
func StartedFingerprint(definition string, request, sagaData json.RawMessage) string {
	var req, saga map[string]json.RawMessage
	if json.Unmarshal(request, &req) != nil || json.Unmarshal(sagaData, &saga) != nil {
		return RequestFingerprint(definition, sagaData)
	}
	kept := make(map[string]json.RawMessage, len(req))
	for k := range req {
		if v, ok := saga[k]; ok {
			kept[k] = v
		}
	}
	raw, _ := json.Marshal(kept)
	return RequestFingerprint(definition, raw)
}

// canonical re-encodes JSON with sorted keys; encoding/json sorts map
// keys, and UseNumber keeps numbers as they were written.
func canonical(data json.RawMessage) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return data
	}
	out, err := json.Marshal(v)
	if err != nil {
		return data
	}
	return out
}
