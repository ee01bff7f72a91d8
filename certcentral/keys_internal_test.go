package certcentral

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDecodeKeys: DigiCert's documented examples (list, info, an ACME key with its extra
// fields and no last_used_date) and the spellings tolerated.
func TestDecodeKeys(t *testing.T) {
	used := time.Date(2018, 8, 18, 19, 8, 19, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		body     string
		ok       bool
		want     APIKey
		lastUsed time.Time
	}{
		{"documented", `{"api_keys":[{"id":182,"user":{"id":125039,"first_name":"John","last_name":"Smith"},"status":"active","create_date":"2018-08-07T23:27:58+00:00","last_used_date":"2018-08-18T19:08:19+00:00","name":"Key Name","is_legacy":false,"restricted_to_role_id":0}]}`,
			true, APIKey{ID: 182, UserID: 125039, UserFirstName: "John", UserLastName: "Smith", Status: "active", Name: "Key Name"}, used},
		{"acme key without last use", `{"api_keys":[{"id":15,"user":{"id":10,"first_name":"Jill","last_name":"Valentine"},"status":"active","create_date":"2018-11-20T22:27:47+00:00","name":"ACME URL Name","is_legacy":false,"restricted_to_role_id":0,"acme_directory_url":"******nnAA","product_name_id":"ssl_plus","organization_id":123456,"validity_days":"0"}]}`,
			true, APIKey{ID: 15, UserID: 10, UserFirstName: "Jill", UserLastName: "Valentine", Status: "active", Name: "ACME URL Name"}, time.Time{}},
		{"strings and null", `{"api_keys":[{"id":"7","user":{"id":"3"},"status":"revoked","create_date":"2018-11-20T22:27:47+00:00","last_used_date":null,"is_legacy":"1","restricted_to_role_id":"102"}]}`,
			true, APIKey{ID: 7, UserID: 3, Status: "revoked", Legacy: true, RoleID: 102}, time.Time{}},
		{"Z and a fraction", `{"api_keys":[{"id":1,"create_date":"2018-11-20T22:27:47+00:00","last_used_date":"2018-08-18T19:08:19.000Z"}]}`, true, APIKey{ID: 1}, used},
		{"no colon in the zone", `{"api_keys":[{"id":1,"create_date":"2018-11-20T22:27:47+00:00","last_used_date":"2018-08-18T21:08:19+0200"}]}`, true, APIKey{ID: 1}, used},
		{"space, no zone: UTC", `{"api_keys":[{"id":1,"create_date":"2018-11-20T22:27:47+00:00","last_used_date":"2018-08-18 19:08:19"}]}`, true, APIKey{ID: 1}, used},
		{"a day", `{"api_keys":[{"id":1,"create_date":"2018-11-20T22:27:47+00:00","last_used_date":"2018-08-18"}]}`, true, APIKey{ID: 1}, time.Date(2018, 8, 18, 0, 0, 0, 0, time.UTC)},
		{"empty and php zero dates", `{"api_keys":[{"id":1,"create_date":"","last_used_date":"0000-00-00 00:00:00"}]}`, true, APIKey{ID: 1}, time.Time{}},
		{"unreadable last use", `{"api_keys":[{"id":1,"last_used_date":"last tuesday"}]}`, false, APIKey{}, time.Time{}},
		{"a number for a date", `{"api_keys":[{"id":1,"last_used_date":1534619299}]}`, false, APIKey{}, time.Time{}},
		{"no id", `{"api_keys":[{"status":"active"}]}`, false, APIKey{}, time.Time{}},
		{"legacy not a boolean", `{"api_keys":[{"id":1,"is_legacy":"maybe"}]}`, false, APIKey{}, time.Time{}},
		{"no api_keys", `{"keys":[]}`, false, APIKey{}, time.Time{}},
	} {
		ks, err := decodeKeys([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if !tc.ok {
			continue
		}
		k := ks[0]
		if !k.LastUsed.Equal(tc.lastUsed) || (!k.LastUsed.IsZero() && k.LastUsed.Location() != time.UTC) {
			t.Errorf("%s: last used %v, want %v", tc.name, k.LastUsed, tc.lastUsed)
		}
		k.LastUsed, k.Created = time.Time{}, time.Time{}
		if k != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, k, tc.want)
		}
	}
	if ks, err := decodeKeys([]byte(`{"api_keys":null}`)); err != nil || len(ks) != 0 {
		t.Errorf("null list: %v %v", ks, err)
	}
	k, err := decodeKey([]byte(`{"id":184,"user":{"id":125039},"status":"active","create_date":"2018-08-07T23:27:58+00:00","last_used_date":"2018-08-18T19:08:19+00:00","name":"Key Name","is_legacy":false,"restricted_to_role_id":0}`))
	if err != nil || k.ID != 184 || !k.LastUsed.Equal(used) || !k.Created.Equal(time.Date(2018, 8, 7, 23, 27, 58, 0, time.UTC)) {
		t.Errorf("decodeKey: %+v %v", k, err)
	}
}

func TestDecodeRoles(t *testing.T) {
	for body, want := range map[string]int{
		`{"access_roles":[{"id":100,"name":"Orders"},{"id":101,"name":"Orders, Domains, Organizations"},{"id":102,"name":"View Only"}]}`: 3,
		`{"api_roles":[{"id":"102","name":"View Only"}]}`: 1,
		`{"access_roles":[]}`:                             0,
		`{}`:                                              -1,
		`{"access_roles":[{"id":0}]}`:                     -1,
		`{"access_roles":[{"id":"x"}]}`:                   -1,
	} {
		roles, err := decodeRoles([]byte(body))
		if (want < 0) != (err != nil) || (want >= 0 && len(roles) != want) {
			t.Errorf("%s: %v %v", body, roles, err)
		}
	}
}

// FuzzDecodeKey: decoding any body never panics, and a key it accepts has a positive id
// and UTC times; every date the simulator's layouts write reads back the same.
func FuzzDecodeKey(f *testing.F) {
	f.Add([]byte(`{"id":184,"user":{"id":125039},"status":"active","create_date":"2018-08-07T23:27:58+00:00","last_used_date":"2018-08-18T19:08:19+00:00"}`), int64(1534619299))
	f.Add([]byte(`{"id":"1","last_used_date":null,"is_legacy":1}`), int64(0))
	f.Fuzz(func(t *testing.T, body []byte, unix int64) {
		if k, err := decodeKey(body); err == nil {
			if k.ID <= 0 || (!k.LastUsed.IsZero() && k.LastUsed.Location() != time.UTC) {
				t.Fatalf("decoded %+v", k)
			}
		}
		ts := time.Unix(unix%(1<<35), 0).UTC()
		if ts.Year() < 1 || ts.Year() > 9999 {
			return
		}
		for _, layout := range []string{"2006-01-02T15:04:05-07:00", time.RFC3339, "2006-01-02 15:04:05"} {
			raw, _ := json.Marshal(ts.Format(layout))
			got, err := parseKeyDate(raw)
			if err != nil || !got.Equal(ts) {
				t.Fatalf("%s: %s read back as %v, %v", layout, raw, got, err)
			}
		}
	})
}
