package vault_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// echoProxy forwards to the real Vault at addr, except that it answers writes to data
// paths with a 502 whose body is the request body, as a misbehaving proxy might.
func echoProxy(t *testing.T, addr string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/data/") {
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("upstream failed while sending: "))
			w.Write(b)
			w.Write([]byte(strings.Repeat(" padding", 200)))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWriteErrorNeverEchoesKeys(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	proxy := echoProxy(t, srv.Addr)
	c := srv.Client(t)
	if err := c.SetAddress(proxy.URL); err != nil {
		t.Fatal(err)
	}
	s := vault.NewStore(c, "secret")
	doc := keyset.Document{Current: mustKey(t), Pending: mustKey(t), Previous: "adopted key with spaces and 5ymbols!"}
	_, err := s.Write(ctx, testPath(t), doc, 0)
	if !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Write through the echo proxy = %v, want ErrUnavailable", err)
	}
	msg := err.Error()
	for _, k := range []string{doc.Current, doc.Pending, doc.Previous, doc.Current[:32]} {
		if strings.Contains(msg, k) {
			t.Errorf("error shows a key: %s", msg)
		}
	}
	if len(msg) > vault.MaxDetail+200 {
		t.Errorf("error is %d bytes, want the answer capped at %d: %s", len(msg), vault.MaxDetail, msg)
	}
	if !strings.Contains(msg, "HTTP 502") || !strings.Contains(msg, "truncated") {
		t.Errorf("error %q does not say what happened", msg)
	}
}

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := keyset.Generate(48)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMaxVersionsRemovesOlderVersions shows the KV v2 behaviour retirement relies on: once
// WriteMetadata has set max_versions, the next write removes every version older than the
// last MaxVersions for good, and Destroy removes the data of the one before the latest.
func TestMaxVersionsRemovesOlderVersions(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	path := testPath(t)
	keys := make([]string, 6)
	v := 0
	for i := range keys {
		keys[i] = mustKey(t)
		var err error
		if v, err = s.Write(ctx, path, keyset.Document{Current: keys[i]}, v); err != nil {
			t.Fatal(err)
		}
	}
	hist, maxv, err := s.History(ctx, path)
	if err != nil || len(hist) != 6 || maxv != 0 {
		t.Fatalf("History before = %v, %d, %v; want 6 versions, max_versions 0", hist, maxv, err)
	}
	if err := s.WriteMetadata(ctx, path, map[string]string{"state": "idle"}); err != nil {
		t.Fatal(err)
	}
	vv, err := s.Read(ctx, path)
	if err != nil || vv.MaxVersions() != vault.MaxVersions || vv.Meta["state"] != "idle" {
		t.Fatalf("Read = %+v, %v; want the custom_metadata with max_versions", vv, err)
	}
	last := mustKey(t)
	if v, err = s.Write(ctx, path, keyset.Document{Current: last}, v); err != nil {
		t.Fatal(err)
	}
	hist, maxv, err = s.History(ctx, path)
	if err != nil || len(hist) != vault.MaxVersions || hist[0].Number != v-1 || maxv != vault.MaxVersions {
		t.Fatalf("History after = %+v, %d, %v; want versions %d and %d", hist, maxv, err, v-1, v)
	}
	for n := 1; n < v-1; n++ {
		if _, err := s.ReadVersion(ctx, path, n); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("version %d still readable: %v", n, err)
		}
	}
	if err := s.Destroy(ctx, path, []int{1, v - 1}); err != nil {
		t.Fatalf("Destroy = %v", err)
	}
	if _, err := s.ReadVersion(ctx, path, v-1); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("destroyed version still readable: %v", err)
	}
	hist, _, _ = s.History(ctx, path)
	if len(hist) != 2 || !hist[0].Destroyed || hist[1].Destroyed {
		t.Errorf("History after destroy = %+v", hist)
	}
	if d, err := s.ReadVersion(ctx, path, v); err != nil || d.Current != last {
		t.Errorf("latest version = %v", err)
	}
}
