package listener_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
)

// staticSource stands in for vaultsource.Source: it always returns the same document.
type staticSource struct{ doc keyset.Document }

func (s staticSource) Read(context.Context, string) (listener.Versioned, error) {
	return listener.Versioned{Doc: s.doc, Version: 7}, nil
}

// A webhook receiver puts Middleware in front of its handler. In production the source
// is vaultsource.New(vault.NewStore(session.Client(), "secret")) and `go v.Run(ctx)` keeps the keys fresh.
func ExampleVerifier_Middleware() {
	const current = "CcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCc"
	const pending = "PpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPpPp"
	src := staticSource{keyset.Document{Current: current, Pending: pending}}
	v, err := listener.New(listener.Config{
		Source: src, Path: "keyroll/digicert/prod-us", Target: "prod-us",
		Refresh: 30 * time.Second, Log: zerolog.Nop(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := v.Load(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, _ := listener.RoleFromContext(r.Context())
		fmt.Fprintf(w, "accepted with the %s key", role)
	}))

	for _, key := range []string{current, pending, "a guess", ""} {
		req := httptest.NewRequest(http.MethodPost, "/hooks/digicert", strings.NewReader(`{"event":"test_webhook_endpoint"}`))
		if key != "" {
			req.Header.Set("X-WEBHOOK-KEY", key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	st := v.Stats()
	fmt.Println("accepted:", st.Accepted[keyset.RoleCurrent]+st.Accepted[keyset.RolePending],
		"rejected:", st.Rejected[listener.ReasonWrongKey]+st.Rejected[listener.ReasonMissingKey])
	// Output:
	// 200 accepted with the current key
	// 200 accepted with the pending key
	// 401 Unauthorized
	// 401 Unauthorized
	// accepted: 2 rejected: 2
}
