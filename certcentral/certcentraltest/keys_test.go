package certcentraltest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// keysEnv is a simulator on a fake clock with one account (key) and its first user.
type keysEnv struct {
	sim   *certcentraltest.Server
	acct  *certcentraltest.Account
	clock *certcentraltest.FakeClock
	user  int
}

func newKeysEnv(t *testing.T, opts ...certcentraltest.Option) *keysEnv {
	t.Helper()
	e := &keysEnv{clock: certcentraltest.NewFakeClock(t0)}
	e.sim = certcentraltest.NewServer(append([]certcentraltest.Option{certcentraltest.WithClock(e.clock.Now),
		certcentraltest.WithRateLimits()}, opts...)...)
	t.Cleanup(e.sim.Close)
	e.acct = e.sim.AddAccount(key)
	e.user = e.acct.UserID()
	return e
}

func (e *keysEnv) do(t *testing.T, method, path, apiKey, body string) answer {
	t.Helper()
	return do(t, e.sim.URL(), method, path, apiKey, body)
}

// create makes a key through the API and returns its id and the key.
func (e *keysEnv) create(t *testing.T, apiKey, body string) (int, string) {
	t.Helper()
	a := e.do(t, "POST", "/key/user/"+strconv.Itoa(e.user), apiKey, body)
	var out struct {
		ID     int    `json:"id"`
		APIKey string `json:"api_key"`
	}
	if a.status != 201 || json.Unmarshal([]byte(a.body), &out) != nil || out.ID <= 0 || len(out.APIKey) < 32 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	return out.ID, out.APIKey
}

type wireKey struct {
	ID   int `json:"id"`
	User struct {
		ID int `json:"id"`
	} `json:"user"`
	Status   string  `json:"status"`
	Created  string  `json:"create_date"`
	LastUsed *string `json:"last_used_date"`
	Name     string  `json:"name"`
	Legacy   bool    `json:"is_legacy"`
	RoleID   int     `json:"restricted_to_role_id"`
}

func (e *keysEnv) info(t *testing.T, id int) wireKey {
	t.Helper()
	a := e.do(t, "GET", "/key/"+strconv.Itoa(id), key, "")
	var k wireKey
	if a.status != 200 || json.Unmarshal([]byte(a.body), &k) != nil {
		t.Fatalf("GET /key/%d: %d %s", id, a.status, a.body)
	}
	return k
}

// TestKeyLifecycle: a key is shown once, authenticates, records its last use, lists and
// describes as documented, is refused once revoked, and works again once reactivated.
func TestKeyLifecycle(t *testing.T) {
	e := newKeysEnv(t)
	id, newKey := e.create(t, key, `{"name":"keyroll prod 20250301-1","restricted_to_role_id":null}`)
	if s, ok := e.acct.APIKey(id); !ok || s != newKey {
		t.Fatalf("APIKey(%d) is not the key created", id)
	}
	e.clock.Advance(90 * time.Second)
	if a := e.do(t, "GET", "/key/"+strconv.Itoa(id), newKey, ""); a.status != 200 || strings.Contains(a.body, newKey) {
		t.Fatalf("GET with the new key: %d (the key is never shown again)", a.status)
	}
	k := e.info(t, id)
	want := wireKey{ID: id, Status: "active", Created: "2025-03-01T12:00:00+00:00", Name: "keyroll prod 20250301-1"}
	want.User.ID = e.user
	used := "2025-03-01T12:01:30+00:00"
	want.LastUsed = &used
	if k.LastUsed == nil || *k.LastUsed != used || k.ID != want.ID || k.User != want.User || k.Status != want.Status ||
		k.Created != want.Created || k.Name != want.Name || k.RoleID != 0 || k.Legacy {
		t.Errorf("info = %+v, want %+v", k, want)
	}
	if first := e.info(t, e.acct.KeyID()); first.LastUsed == nil || *first.LastUsed != used {
		t.Errorf("the calling key's last use is not recorded: %+v", first)
	}
	list := e.do(t, "GET", "/key?user_id="+strconv.Itoa(e.user), key, "")
	if list.status != 200 || strings.Contains(list.body, newKey) || strings.Count(list.body, `"status":"active"`) != 2 {
		t.Errorf("list: %d %s", list.status, list.body)
	}

	for _, step := range []struct {
		name, body string
		status     int
		works      bool
	}{
		{"revoke", `{"status":"revoked"}`, 204, false},
		{"revoke again", `{"status":"revoked"}`, 204, false},
		{"reactivate", `{"status":"active"}`, 204, true},
		{"revoke for good", `{"status":"revoked"}`, 204, false},
	} {
		if a := e.do(t, "PUT", "/key/"+strconv.Itoa(id)+"/status", key, step.body); a.status != step.status {
			t.Fatalf("%s: %d %s", step.name, a.status, a.body)
		}
		a := e.do(t, "GET", "/key/api-roles", newKey, "")
		if (a.status == 200) != step.works || (!step.works && (a.status != 401 || a.code() != "access_denied|invalid_key")) {
			t.Errorf("%s: request with the key: %d %s", step.name, a.status, a.body)
		}
	}
	if k := e.info(t, id); k.Status != "revoked" {
		t.Errorf("after revoke: %+v", k)
	}
	if ks := e.acct.ActiveKeys(); len(ks) != 1 || ks[0].ID != e.acct.KeyID() {
		t.Errorf("ActiveKeys = %+v", ks)
	}
	if log := fmt.Sprintf("%+v %+v %+v", e.sim.Requests(), e.sim.Keys(), e.acct.Keys()); strings.Contains(log, newKey) {
		t.Errorf("the simulator's log or key list shows the key")
	}
	roles := e.do(t, "GET", "/key/api-roles", key, "")
	if roles.body != `{"access_roles":[{"id":100,"name":"Orders"},{"id":101,"name":"Orders, Domains, Organizations"},{"id":102,"name":"View Only"}]}` {
		t.Errorf("roles: %s", roles.body)
	}
}

func TestKeyRequestErrors(t *testing.T) {
	e := newKeysEnv(t)
	other := e.sim.AddAccount("another-account-key-0002")
	otherKey, _, err := other.AddKey(certcentraltest.NewKey{Name: "theirs"})
	if err != nil {
		t.Fatal(err)
	}
	u := "/key/user/" + strconv.Itoa(e.user)
	mine := "/key/" + strconv.Itoa(e.acct.KeyID())
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", u, `{}`, 400, "bad_request_format"},
		{"POST", u, `{"name":"  "}`, 400, "bad_request_format"},
		{"POST", u, `not json`, 400, "bad_request_format"},
		{"POST", u, `{"name":"x","restricted_to_role_id":7}`, 400, "invalid_role_id"},
		{"POST", u, `{"name":"x","restricted_to_role_id":"x"}`, 400, "bad_request_format"},
		{"POST", "/key/user/" + strconv.Itoa(other.UserID()), `{"name":"x"}`, 404, "not_found|user"},
		{"POST", "/key/user/0", `{"name":"x"}`, 404, "not_found|route"},
		{"GET", "/key/user/" + strconv.Itoa(e.user), "", 404, "not_found|route"},
		{"GET", "/key/" + strconv.Itoa(otherKey), "", 404, "not_found|api_key"},
		{"GET", "/key/999999", "", 404, "not_found|api_key"},
		{"GET", "/key/abc", "", 404, "not_found|route"},
		{"DELETE", mine, "", 404, "not_found|route"},
		{"PUT", mine + "/status", `{"status":"gone"}`, 400, "bad_request_format"},
		{"PUT", mine + "/status", `{}`, 400, "bad_request_format"},
		{"PUT", "/key/" + strconv.Itoa(otherKey) + "/status", `{"status":"revoked"}`, 404, "not_found|api_key"},
		{"GET", "/key?user_id=abc", "", 400, "bad_request_format"},
		{"GET", "/key?user_id=-3", "", 400, "bad_request_format"},
		{"POST", "/key", "", 404, "not_found|route"},
		{"POST", "/key/api-roles", "", 404, "not_found|route"},
	} {
		if a := e.do(t, tc.method, tc.path, key, tc.body); a.status != tc.status || a.code() != tc.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, a.status, a.body, tc.status, tc.code)
		}
	}
	// Another user's list is empty; the list without user_id has the account's keys only.
	if a := e.do(t, "GET", "/key?user_id="+strconv.Itoa(other.UserID()), key, ""); a.body != `{"api_keys":[]}` {
		t.Errorf("another account's user: %s", a.body)
	}
	if a := e.do(t, "GET", "/key", key, ""); strings.Count(a.body, `"id":`) != 2 || strings.Contains(a.body, "theirs") {
		t.Errorf("list without user_id: %s", a.body)
	}
}

// TestKeyRoles: what a key restricted to each role may do, under the default assumptions
// and under others.
func TestKeyRoles(t *testing.T) {
	type want struct{ list, create, info, revoke, ownInfo, hookGet, hookPut int }
	allowAll := []int{0, 100, 101, 102}
	for _, tc := range []struct {
		name string
		opts []certcentraltest.Option
		role int
		want want
	}{
		{"unrestricted", nil, 0, want{200, 201, 200, 204, 200, 200, 204}},
		{"orders", nil, 100, want{403, 403, 403, 403, 200, 403, 403}},
		{"orders domains organizations", nil, 101, want{403, 403, 403, 403, 200, 403, 403}},
		{"view only", nil, 102, want{403, 403, 403, 403, 200, 200, 403}},
		{"view only, no self info", []certcentraltest.Option{certcentraltest.WithSelfInfo(false)}, 102, want{403, 403, 403, 403, 403, 200, 403}},
		{"orders may manage keys and the webhook", []certcentraltest.Option{certcentraltest.WithKeyManagerRoles(allowAll...),
			certcentraltest.WithWebhookManagerRoles(100), certcentraltest.WithWebhookReaderRoles(100)}, 100, want{200, 201, 200, 204, 200, 200, 204}},
		{"view only may not read the webhook", []certcentraltest.Option{certcentraltest.WithWebhookReaderRoles(0)}, 102, want{403, 403, 403, 403, 200, 403, 403}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := okListener(t)
			e := newKeysEnv(t, append([]certcentraltest.Option{certcentraltest.AllowHTTPEndpoints()}, tc.opts...)...)
			hook := e.acct.SetWebhook(certcentraltest.Webhook{Endpoint: l.URL, Secret: secret})
			id, k, err := e.acct.AddKey(certcentraltest.NewKey{APIKey: "role-key-" + strconv.Itoa(tc.role), RoleID: tc.role})
			if err != nil {
				t.Fatal(err)
			}
			victim, _, _ := e.acct.AddKey(certcentraltest.NewKey{Name: "victim"})
			got := want{
				list:    e.do(t, "GET", "/key?user_id="+strconv.Itoa(e.user), k, "").status,
				create:  e.do(t, "POST", "/key/user/"+strconv.Itoa(e.user), k, `{"name":"n","restricted_to_role_id":`+strconv.Itoa(tc.role)+`}`).status,
				info:    e.do(t, "GET", "/key/"+strconv.Itoa(e.acct.KeyID()), k, "").status,
				revoke:  e.do(t, "PUT", "/key/"+strconv.Itoa(victim)+"/status", k, `{"status":"revoked"}`).status,
				ownInfo: e.do(t, "GET", "/key/"+strconv.Itoa(id), k, "").status,
				hookGet: e.do(t, "GET", "/webhook", k, "").status,
				hookPut: e.do(t, "PUT", "/webhook/"+strconv.Itoa(hook), k, `{"endpoint":"`+l.URL+`"}`).status,
			}
			if got != tc.want {
				t.Errorf("role %d: got %+v, want %+v", tc.role, got, tc.want)
			}
		})
	}
	// A restricted key that may manage keys makes none stronger than itself.
	e := newKeysEnv(t, certcentraltest.WithKeyManagerRoles(0, 101))
	_, k, _ := e.acct.AddKey(certcentraltest.NewKey{APIKey: "restricted-manager-key", RoleID: 101})
	if a := e.do(t, "POST", "/key/user/"+strconv.Itoa(e.user), k, `{"name":"n"}`); a.status != 403 {
		t.Errorf("escalation: %d %s", a.status, a.body)
	}
	if a := e.do(t, "POST", "/key/user/"+strconv.Itoa(e.user), k, `{"name":"n","restricted_to_role_id":101}`); a.status != 201 {
		t.Errorf("same role: %d %s", a.status, a.body)
	}
	// An administrator restricts the account's first key in the UI.
	must(t, e.acct.SetKeyRole(e.acct.KeyID(), certcentraltest.RoleViewOnly))
	if a := e.do(t, "GET", "/key", key, ""); a.status != 403 {
		t.Errorf("list with a key made View Only: %d", a.status)
	}
	must(t, e.acct.SetKeyRole(e.acct.KeyID(), certcentraltest.RoleUnrestricted))
	// A read-only account changes no key.
	e.acct.SetReadOnly(true)
	if a := e.do(t, "POST", "/key/user/"+strconv.Itoa(e.user), key, `{"name":"n"}`); a.status != 403 {
		t.Errorf("read-only create: %d", a.status)
	}
}

// TestKeyAssumptions plays each knob of the undocumented behaviour against its default.
func TestKeyAssumptions(t *testing.T) {
	t.Run("self revoke", func(t *testing.T) {
		for _, allow := range []bool{true, false} {
			e := newKeysEnv(t, certcentraltest.WithSelfRevoke(allow))
			a := e.do(t, "PUT", "/key/"+strconv.Itoa(e.acct.KeyID())+"/status", key, `{"status":"revoked"}`)
			if (a.status == 204) != allow || (!allow && a.status != 403) {
				t.Errorf("self revoke allowed=%t: %d %s", allow, a.status, a.body)
			}
		}
	})
	t.Run("revoked response", func(t *testing.T) {
		e := newKeysEnv(t, certcentraltest.WithRevokedResponse(403, `{"errors":[{"code":"access_denied|revoked","message":"revoked"}]}`))
		id, k := e.create(t, key, `{"name":"n"}`)
		must(t, e.acct.RevokeKey(id))
		if a := e.do(t, "GET", "/key/api-roles", k, ""); a.status != 403 || a.code() != "access_denied|revoked" {
			t.Errorf("revoked key: %d %s", a.status, a.body)
		}
		if a := e.do(t, "GET", "/key/api-roles", "unknown-key-000000", ""); a.status != 401 {
			t.Errorf("unknown key: %d %s", a.status, a.body)
		}
	})
	t.Run("new key delay", func(t *testing.T) {
		e := newKeysEnv(t, certcentraltest.WithNewKeyDelay(30*time.Second))
		_, k := e.create(t, key, `{"name":"n"}`)
		if a := e.do(t, "GET", "/key/api-roles", k, ""); a.status != 401 {
			t.Errorf("new key at once: %d", a.status)
		}
		e.clock.Advance(30 * time.Second)
		if a := e.do(t, "GET", "/key/api-roles", k, ""); a.status != 200 {
			t.Errorf("new key after the delay: %d", a.status)
		}
	})
	t.Run("last used by the day, dates with Z", func(t *testing.T) {
		e := newKeysEnv(t, certcentraltest.WithLastUsedPrecision(certcentraltest.LastUsedDay), certcentraltest.WithKeyDateLayout(time.RFC3339))
		e.clock.Advance(5 * time.Hour)
		k := e.info(t, e.acct.KeyID())
		if k.LastUsed == nil || *k.LastUsed != "2025-03-01T00:00:00Z" || k.Created != "2025-03-01T12:00:00Z" {
			t.Errorf("key %+v", k)
		}
	})
	t.Run("never used: no last_used_date", func(t *testing.T) {
		e := newKeysEnv(t)
		id, _, _ := e.acct.AddKey(certcentraltest.NewKey{Name: "idle"})
		if a := e.do(t, "GET", "/key/"+strconv.Itoa(id), key, ""); strings.Contains(a.body, "last_used_date") {
			t.Errorf("never used key: %s", a.body)
		}
	})
	t.Run("rerevoke error", func(t *testing.T) {
		e := newKeysEnv(t, certcentraltest.WithRerevokeError(true))
		id, _ := e.create(t, key, `{"name":"n"}`)
		p := "/key/" + strconv.Itoa(id) + "/status"
		if a := e.do(t, "PUT", p, key, `{"status":"revoked"}`); a.status != 204 {
			t.Errorf("revoke: %d", a.status)
		}
		if a := e.do(t, "PUT", p, key, `{"status":"revoked"}`); a.status != 400 || a.code() != "invalid_status" {
			t.Errorf("revoke again: %d %s", a.status, a.body)
		}
	})
	t.Run("hidden revoked keys", func(t *testing.T) {
		e := newKeysEnv(t, certcentraltest.WithHideRevokedKeys(true))
		id, _ := e.create(t, key, `{"name":"n"}`)
		must(t, e.acct.RevokeKey(id))
		if a := e.do(t, "GET", "/key/"+strconv.Itoa(id), key, ""); a.status != 404 {
			t.Errorf("revoked key info: %d", a.status)
		}
		if a := e.do(t, "GET", "/key", key, ""); strings.Count(a.body, `"status":`) != 1 {
			t.Errorf("list shows the revoked key: %s", a.body)
		}
		if a := e.do(t, "PUT", "/key/"+strconv.Itoa(id)+"/status", key, `{"status":"revoked"}`); a.status != 204 {
			t.Errorf("revoking a hidden key: %d", a.status)
		}
	})
}

// TestLostKeyCreate: a create whose answer is lost (connection closed, a 5xx, a timeout)
// leaves the key in the account.
func TestLostKeyCreate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*certcentraltest.Server)
		client *http.Client
		status int // 0: no answer
	}{
		{"dropped", func(s *certcentraltest.Server) { s.LoseNextKeyCreate(0) }, http.DefaultClient, 0},
		{"502", func(s *certcentraltest.Server) { s.LoseNextKeyCreate(502) }, http.DefaultClient, 502},
		{"timeout", func(s *certcentraltest.Server) {
			s.Inject(certcentraltest.Fault{Method: "POST", Path: "/key/user/*", ResponseLatency: 300 * time.Millisecond})
		}, &http.Client{Timeout: 30 * time.Millisecond}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKeysEnv(t)
			tc.inject(e.sim)
			req, _ := http.NewRequest("POST", e.sim.URL()+"/key/user/"+strconv.Itoa(e.user), strings.NewReader(`{"name":"keyroll lost r1"}`))
			req.Header.Set("X-DC-DEVKEY", key)
			resp, err := tc.client.Do(req)
			switch {
			case tc.status == 0 && err == nil:
				resp.Body.Close()
				t.Errorf("answered %d", resp.StatusCode)
			case tc.status != 0 && (err != nil || resp.StatusCode != tc.status):
				t.Errorf("answer %v %v, want %d", resp, err, tc.status)
			case err == nil:
				resp.Body.Close()
			}
			e.sim.Close() // waits for the request to finish
			ks := e.acct.ActiveKeys()
			if len(ks) != 2 || ks[1].Name != "keyroll lost r1" {
				t.Errorf("keys after a lost create: %+v", ks)
			}
			if e.sim.Stats().Injected != 1 {
				t.Errorf("stats %+v", e.sim.Stats())
			}
		})
	}
}

// TestControlKeys: GET /_sim/keys lists the keys without the keys themselves.
func TestControlKeys(t *testing.T) {
	e := newKeysEnv(t)
	id, k := e.create(t, key, `{"name":"keyroll a r1"}`)
	must(t, e.acct.RevokeKey(id))
	e.sim.AddAccount("second-account-key-0003")
	srv := httptest.NewServer(e.sim.ControlHandler())
	defer srv.Close()
	get := func(q string) []certcentraltest.ControlKey {
		t.Helper()
		resp, err := http.Get(srv.URL + "/_sim/keys" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []certcentraltest.ControlKey
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	if all := get(""); len(all) != 3 {
		t.Errorf("all keys: %+v", all)
	}
	mine := get("?api_key=" + key + "&status=revoked")
	if len(mine) != 1 || mine[0].ID != id || mine[0].Name != "keyroll a r1" || mine[0].Account != e.acct.Fingerprint() ||
		mine[0].Fingerprint != certcentraltest.Fingerprint(k) {
		t.Errorf("revoked keys of the account: %+v", mine)
	}
	if act := get("?api_key=" + k + "&status=active"); len(act) != 1 || act[0].ID != e.acct.KeyID() {
		t.Errorf("by a revoked key of the account: %+v", act)
	}
	fetched, err := certcentraltest.FetchKeys(t.Context(), nil, srv.URL, key, "")
	if err != nil || len(fetched) != 2 || fetched[1].ID != id || fetched[1].Status != "revoked" || fetched[1].Fingerprint != certcentraltest.Fingerprint(k) {
		t.Errorf("FetchKeys = %+v, %v", fetched, err)
	}
	if _, err := certcentraltest.FetchKeys(t.Context(), nil, srv.URL, "nope-unknown-key", "active"); err == nil || strings.Contains(err.Error(), "nope-unknown-key") {
		t.Errorf("FetchKeys for an unknown key: %v", err)
	}
	resp, err := http.Get(srv.URL + "/_sim/keys?api_key=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown api_key: %d", resp.StatusCode)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeys(t *testing.T) {
	keys := []certcentraltest.Key{
		{ID: 1, Name: "initial key", Status: "active"},
		{ID: 2, Name: "keyroll a r1", Status: "revoked"},
		{ID: 3, Name: "keyroll a r2", Status: "active"},
		{ID: 4, Name: "keyroll a r3", Status: "active"},
		{ID: 5, Name: "keyroll b r1", Status: "active"},
	}
	for _, tc := range []struct {
		prefix string
		known  []int
		want   []int
	}{
		{"keyroll ", []int{3, 5}, []int{4}},
		{"keyroll a ", []int{3}, []int{4}},
		{"keyroll ", []int{3, 4, 5}, nil},
		{"keyroll ", nil, []int{3, 4, 5}},
	} {
		var got []int
		for _, k := range certcentraltest.UnknownKeys(keys, tc.prefix, tc.known...) {
			got = append(got, k.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("UnknownKeys(%q, %v) = %v, want %v", tc.prefix, tc.known, got, tc.want)
		}
	}
}

// TestKeyFaults: a fault on each key endpoint answers instead of it (nothing applied), or
// drops the answer of a request it applied.
func TestKeyFaults(t *testing.T) {
	e := newKeysEnv(t)
	victim, _, _ := e.acct.AddKey(certcentraltest.NewKey{Name: "victim"})
	vs := "/key/" + strconv.Itoa(victim) + "/status"
	for _, tc := range []struct {
		method, path, body string
	}{
		{"GET", "/key", ""},
		{"GET", "/key/api-roles", ""},
		{"GET", "/key/" + strconv.Itoa(victim), ""},
		{"POST", "/key/user/" + strconv.Itoa(e.user), `{"name":"keyroll f r1"}`},
		{"PUT", vs, `{"status":"revoked"}`},
	} {
		e.sim.Inject(certcentraltest.Fault{Method: tc.method, Path: tc.path, Status: 503})
		if a := e.do(t, tc.method, tc.path, key, tc.body); a.status != 503 || a.code() != "service_unavailable" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, a.status, a.body)
		}
	}
	if ks := e.acct.ActiveKeys(); len(ks) != 2 {
		t.Errorf("a fault applied a change: %+v", ks)
	}
	e.sim.DropNextResponse("PUT", vs)
	req, _ := http.NewRequest("PUT", e.sim.URL()+vs, strings.NewReader(`{"status":"revoked"}`))
	req.Header.Set("X-DC-DEVKEY", key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("dropped answer came: %d", resp.StatusCode)
	}
	if k, _ := e.acct.Key(victim); k.Status != certcentraltest.KeyRevoked {
		t.Errorf("dropped PUT not applied: %+v", k)
	}
	if st := e.sim.Stats(); st.Injected != 6 || st.Dropped != 1 {
		t.Errorf("stats %+v", st)
	}
}
