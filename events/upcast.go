package events

import (
	"encoding/json"
	"fmt"
)

// Schema evolution. Every record names its type and schema version in its
// headers; Check upcasts an older version step by step (v1 to v2, v2 to
// v3, ...) to the current one before anything reads it, so a log written
// by an older build replays into today's read models. An upcaster takes
// the JSON payload of version v and returns the payload of version v+1; it
// must be pure, and it must accept every payload the older build wrote.
//
// Adding a version: change the payload struct to the new shape (readers
// then see only that shape), bump the type's current version in kinds and
// register the upcaster from the previous version there. New messages are
// written at the current version (New uses CurrentVersion).

// NotificationChannelEmail is the channel of every NotificationSent
// written before the channel was recorded (version 1): the notification
// service only sent e-mail then.
const NotificationChannelEmail = "email"

// NotificationSentV2 is the current shape of NotificationSent: version 1
// and a "channel" naming how the message went out. The struct keeps its
// historical name, so readers of NotificationSentV1 need no change.
type NotificationSentV2 = NotificationSentV1

// upcastNotificationSentV1 turns a NotificationSent v1 payload into v2:
// every field as it was, plus "channel": "email" (version 1 knew of no
// other channel). A payload that names a channel keeps it.
func upcastNotificationSentV1(raw json.RawMessage) (json.RawMessage, error) {
	return withDefault(raw, "channel", NotificationChannelEmail)
}

// withDefault returns the JSON object raw with field set to value when it
// is missing, null or the empty string; other fields are kept as they are.
func withDefault(raw json.RawMessage, field, value string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("payload must be a JSON object, got %s", raw)
	}
	var cur *string
	if v, ok := obj[field]; ok {
		if err := json.Unmarshal(v, &cur); err != nil {
			return nil, fmt.Errorf("%s must be a string: %v", field, err)
		}
	}
	if cur != nil && *cur != "" {
		return raw, nil
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	obj[field] = v
	return json.Marshal(obj)
}
