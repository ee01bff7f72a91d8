package vault_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) (*vault.Store, *testenv.VaultServer) {
	t.Helper()
	srv := testenv.SharedVault(t)
	return vault.NewStore(srv.Client(t), "secret"), srv
}

var pathSeq atomic.Int64

// testPath is a document path of t's own, fresh on every run (-count=N reuses the server).
func testPath(t *testing.T) string {
	return fmt.Sprintf("keyroll/test/%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), pathSeq.Add(1))
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, srv := newStore(t)
	path := testPath(t)

	_, err := s.Read(ctx, path)
	if !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Read of a new path = %v, want ErrNotFound", err)
	}
	now := time.Now().UTC()
	doc := keyset.Document{Current: "c1", CurrentSince: now, Pending: "p1", PendingSince: now, RotationID: "r1"}
	v1, err := s.Write(ctx, path, doc, 0)
	if err != nil || v1 != 1 {
		t.Fatalf("Write(cas 0) = %d, %v", v1, err)
	}
	got, err := s.Read(ctx, path)
	if err != nil || got.Version != 1 || got.Doc != doc {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	doc.Pending, doc.PendingSince = "", time.Time{}
	v2, err := s.Write(ctx, path, doc, 1)
	if err != nil || v2 != 2 {
		t.Fatalf("Write(cas 1) = %d, %v", v2, err)
	}
	got, _ = s.Read(ctx, path)
	if got.Doc.Pending != "" || got.Version != 2 {
		t.Fatalf("pending not removed: %+v", got)
	}

	if err := s.WriteMetadata(ctx, path, doc.Metadata()); err != nil {
		t.Fatal(err)
	}
	meta := srv.CustomMetadata(t, "secret", path)
	if meta["state"] != "idle" || meta["current_fingerprint"] != keyset.Fingerprint("c1") {
		t.Fatalf("metadata = %v", meta)
	}
}

func TestStoreCASConflict(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	path := testPath(t)
	if _, err := s.Write(ctx, path, keyset.Document{Current: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	// Eight writers race on version 1: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Write(ctx, path, keyset.Document{Current: "b"}, 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, vault.ErrCASConflict):
				conflicts++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 7 {
		t.Fatalf("wins=%d conflicts=%d, want 1 and 7", wins, conflicts)
	}
	// Creating an existing document with cas 0 is a conflict too.
	if _, err := s.Write(ctx, path, keyset.Document{Current: "c"}, 0); !errors.Is(err, vault.ErrCASConflict) {
		t.Fatalf("create over existing = %v, want ErrCASConflict", err)
	}
}

func TestStoreDeletedLatestVersion(t *testing.T) {
	ctx := context.Background()
	s, srv := newStore(t)
	path := testPath(t)
	if _, err := s.Write(ctx, path, keyset.Document{Current: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client(t).Logical().Delete("secret/data/" + path); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(ctx, path)
	if !errors.Is(err, vault.ErrNotFound) || got.Version != 1 {
		t.Fatalf("Read deleted = %+v, %v; want version 1 and ErrNotFound", got, err)
	}
	if _, err := s.Write(ctx, path, keyset.Document{Current: "b"}, got.Version); err != nil {
		t.Fatalf("re-create with cas=%d: %v", got.Version, err)
	}
}

func TestStoreInvalidDocument(t *testing.T) {
	ctx := context.Background()
	s, srv := newStore(t)
	path := testPath(t)
	_, err := srv.Client(t).Logical().Write("secret/data/"+path, map[string]any{"data": map[string]any{"current": 7, "pending": "LEAKME"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(ctx, path)
	if !errors.Is(err, vault.ErrInvalidDocument) || strings.Contains(err.Error(), "LEAKME") {
		t.Fatalf("Read = %v, want ErrInvalidDocument without values", err)
	}
}

func TestStorePermissionDenied(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	path := testPath(t)
	srv.Policy(t, "keyroll-other", `path "secret/data/other/*" { capabilities = ["read", "create", "update"] }`)
	tok := srv.Token(t, time.Hour, "keyroll-other")
	s := vault.NewStore(srv.ClientWithToken(t, tok), "secret")
	if _, err := s.Read(ctx, path); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("Read = %v, want ErrPermissionDenied", err)
	}
	if _, err := s.Write(ctx, path, keyset.Document{Current: "x"}, 0); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("Write = %v, want ErrPermissionDenied", err)
	}
	if err := s.WriteMetadata(ctx, path, map[string]string{"state": "idle"}); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("WriteMetadata = %v, want ErrPermissionDenied", err)
	}
}

func TestStoreUnavailable(t *testing.T) {
	ctx := context.Background()
	srv := testenv.DevVault(t) // a dedicated server, stopped below
	s := vault.NewStore(srv.Client(t), "secret")
	path := testPath(t)
	if _, err := s.Write(ctx, path, keyset.Document{Current: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err := s.Read(ctx, path)
	if !errors.Is(err, vault.ErrUnavailable) || failure.Of(err) != failure.Retryable {
		t.Fatalf("Read from stopped server = %v, want ErrUnavailable", err)
	}
	if _, err := s.Write(ctx, path, keyset.Document{Current: "b"}, 1); !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Write to stopped server = %v, want ErrUnavailable", err)
	}
}

func TestStoreSealed(t *testing.T) {
	ctx := context.Background()
	srv := testenv.DevVault(t)
	c := srv.Client(t)
	s := vault.NewStore(c, "secret")
	if err := c.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, testPath(t)); !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Read from sealed server = %v, want ErrUnavailable", err)
	}
}

func TestLoginToken(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	sess, err := vault.Login(ctx, vault.Options{Address: srv.Addr, Auth: vault.Auth{Method: vault.AuthToken, Token: srv.RootToken}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.NewStore(sess.Client(), "secret").Read(ctx, testPath(t)); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Read = %v", err)
	}
	_, err = vault.Login(ctx, vault.Options{Address: srv.Addr, Auth: vault.Auth{Method: vault.AuthToken, Token: "not-a-token"}}, zerolog.Nop())
	if !errors.Is(err, vault.ErrPermissionDenied) || strings.Contains(err.Error(), "not-a-token") {
		t.Fatalf("Login with a bad token = %v, want ErrPermissionDenied without the token", err)
	}
}

func TestLoginAppRoleAndRelogin(t *testing.T) {
	t.Parallel() // waits on real token TTLs
	ctx := context.Background()
	srv := testenv.DevVault(t)
	// Tokens live 4s and cannot be renewed past 6s: KeepAlive must log in again.
	// (Vault reports TTLs in whole seconds, so shorter ones leave renewal little margin.)
	auth := srv.AppRole(t, "approle", "kr", `path "secret/data/keyroll/*" { capabilities = ["read", "create", "update"] }`, "4s", "6s")
	cfg := vault.Options{Address: srv.Addr, Auth: auth}
	sess, err := vault.Login(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sess.KeepAlive(kctx)
	s := vault.NewStore(sess.Client(), "secret")
	path := "keyroll/relogin"
	if _, err := s.Write(ctx, path, keyset.Document{Current: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	// Outlive several token lifetimes, reading all along.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.Read(ctx, path); err != nil {
			t.Fatalf("read after %v: %v", time.Until(deadline), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEnsureLogsInAgainAfterExpiry is the scheduler's defence for runs weeks apart: the
// token has long expired by the next run, and Ensure logs in again before it.
func TestEnsureLogsInAgainAfterExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.DevVault(t)
	auth := srv.AppRole(t, "approle", "kr", `path "secret/data/keyroll/*" { capabilities = ["read", "create", "update"] }`, "1s", "1s")
	cfg := vault.Options{Address: srv.Addr, Auth: auth}
	sess, err := vault.Login(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s := vault.NewStore(sess.Client(), "secret")
	time.Sleep(2 * time.Second) // the token expires
	if _, err := s.Read(ctx, "keyroll/x"); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Fatalf("read with an expired token = %v, want permission denied", err)
	}
	if err := sess.Ensure(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, "keyroll/x"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("read after Ensure = %v, want not found", err)
	}
}
