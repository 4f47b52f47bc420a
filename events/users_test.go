package events_test

import (
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
)

func TestValidPhone(t *testing.T) {
	for phone, want := range map[string]bool{
		"+15555550100": true, "+4930123456": true, "+123456789012345": true,
		"": false, "15555550100": false, "+0555550100": false, "+1234567": false,
		"+1234567890123456": false, "+1 555 555 0100": false, "+1555555010a": false, "++15555550100": false,
	} {
		if got := events.ValidPhone(phone); got != want {
			t.Errorf("ValidPhone(%q) = %v, want %v", phone, got, want)
		}
	}
}

func TestUserDataValidateShape(t *testing.T) {
	tests := []struct {
		d    events.UserData
		want string // a substring of the error, "" for none
	}{
		{events.UserData{UserID: "dave", Name: "Dave", Phone: "12"}, ""}, // the phone is the service's to judge
		{events.UserData{UserID: "d.a-v_e9", Name: "Dávé", Phone: "+15555550100"}, ""},
		{events.UserData{UserID: "", Name: "Dave", Phone: "+1"}, "user_id"},
		{events.UserData{UserID: "Dave", Name: "Dave", Phone: "+1"}, "user_id"},
		{events.UserData{UserID: "da ve", Name: "Dave", Phone: "+1"}, "user_id"},
		{events.UserData{UserID: "-dave", Name: "Dave", Phone: "+1"}, "user_id"},
		{events.UserData{UserID: strings.Repeat("d", 65), Name: "Dave", Phone: "+1"}, "user_id"},
		{events.UserData{UserID: "dave", Name: " \t", Phone: "+1"}, "name"},
		{events.UserData{UserID: "dave", Name: strings.Repeat("é", 65), Phone: "+1"}, "name"},
		{events.UserData{UserID: "dave", Name: strings.Repeat("é", 64), Phone: "+1"}, ""},
		{events.UserData{UserID: "dave", Name: "Dave"}, "phone"},
	}
	for _, tt := range tests {
		err := tt.d.ValidateShape()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tt.d, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: %v, want an error on %s", tt.d, err, tt.want)
		}
	}
}
