package listener_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkSidecar measures `keyroll listen --upstream` against a bare
// httputil.ReverseProxy to the same upstream, in one run: rounds alternate between the
// two so that both see the same machine. Each round sends b.N/rounds deliveries (a
// 400-byte JSON body) from 8 concurrent keep-alive clients through each proxy. It
// reports each side's throughput and median latency, the sidecar's throughput as a
// percentage of the bare proxy's (budget: at least 80) and the median latency it adds
// (budget: under 200 µs).
func BenchmarkSidecar(b *testing.B) {
	const clients, rounds = 8, 10
	v, keys := benchVerifier(b)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	transport := func() *http.Transport {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		return tr
	}
	bareProxy := httputil.NewSingleHostReverseProxy(upURL)
	bareProxy.Transport = transport()
	bare := httptest.NewServer(bareProxy)
	defer bare.Close()
	sidecar := httptest.NewServer(v.Proxy(upURL, transport()))
	defer sidecar.Close()
	client := &http.Client{Transport: transport()}
	body := `{"event":"certificate_issued","order_id":12345,"certificate_id":67890,` + strings.Repeat(`"x":"padding",`, 22) + `"end":1}`

	type side struct {
		url     string
		elapsed time.Duration
		n       int
		lat     []time.Duration
	}
	sides := []*side{{url: bare.URL}, {url: sidecar.URL}}
	send := func(s *side, n int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lat := make([]time.Duration, 0, n/clients+1)
				for i := c; i < n; i += clients {
					req, _ := http.NewRequest(http.MethodPost, s.url+"/hooks/digicert?env=prod", strings.NewReader(body))
					req.Header.Set("X-WEBHOOK-KEY", keys[0])
					t := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					lat = append(lat, time.Since(t))
					if resp.StatusCode != 200 {
						b.Errorf("%s: status %d", s.url, resp.StatusCode)
						return
					}
				}
				mu.Lock()
				s.lat = append(s.lat, lat...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		s.elapsed += time.Since(start)
		s.n += n
	}
	send(sides[0], 200) // warm up both: connections, buffers
	send(sides[1], 200)
	for _, s := range sides {
		s.elapsed, s.n, s.lat = 0, 0, nil
	}
	b.ResetTimer()
	per := max(b.N/rounds, clients)
	for range rounds {
		for _, s := range sides {
			send(s, per)
		}
	}
	b.StopTimer()
	rps := func(s *side) float64 { return float64(s.n) / s.elapsed.Seconds() }
	p50 := func(s *side) time.Duration {
		slices.Sort(s.lat)
		return s.lat[len(s.lat)/2]
	}
	bp, sp := p50(sides[0]), p50(sides[1])
	b.ReportMetric(rps(sides[0]), "bare-req/s")
	b.ReportMetric(rps(sides[1]), "sidecar-req/s")
	b.ReportMetric(100*rps(sides[1])/rps(sides[0]), "throughput-%")
	b.ReportMetric(float64(bp)/1e3, "bare-p50-µs")
	b.ReportMetric(float64(sp)/1e3, "sidecar-p50-µs")
	b.ReportMetric(float64(sp-bp)/1e3, "added-p50-µs")
}
