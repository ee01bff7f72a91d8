package certcentraltest_test

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNoGoroutineLeak(t *testing.T) {
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	t.Run("work", func(t *testing.T) { // its cleanups close the servers
		sim, acct, id, ep := setup(t)
		wp := "/webhook/" + strconv.Itoa(id)
		do(t, sim.URL(), "PUT", wp, key, `{"endpoint":"`+ep+`"}`)
		do(t, sim.URL(), "PUT", wp+"/send-challenge", key, "")
		sim.DropNextResponse("PUT", wp)
		req, _ := http.NewRequest("PUT", sim.URL()+wp, nil)
		req.Header.Set("X-DC-DEVKEY", key)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		sim.LoseNextKeyCreate(0)
		req, _ = http.NewRequest("POST", sim.URL()+"/key/user/"+strconv.Itoa(acct.UserID()), strings.NewReader(`{"name":"lost"}`))
		req.Header.Set("X-DC-DEVKEY", key)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		if _, err := acct.Deliver(context.Background(), "certificate_issued", nil); err != nil {
			t.Error(err)
		}
	})
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
