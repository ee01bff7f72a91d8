package certcentral

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyroll/keyroll/internal/clock"
)

// Base URLs of the Services API v2.
const (
	USBaseURL = "https://www.digicert.com/services/v2"
	EUBaseURL = "https://certcentral.digicert.eu/services/v2"
)

// DefaultTimeout is the default per-attempt timeout.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is sent when Config.UserAgent is empty. Callers should send
// "keyroll/<version>".
const DefaultUserAgent = "keyroll"

// maxBody bounds how much of a response body is read.
const maxBody = 1 << 20

// Config configures a Client. Only APIKey is required.
type Config struct {
	// BaseURL is USBaseURL (the default), EUBaseURL or a simulator's URL.
	BaseURL string
	// APIKey is sent as X-DC-DEVKEY. It never appears in errors.
	APIKey string
	// Timeout bounds each attempt, including reading the body
	// (default DefaultTimeout).
	Timeout time.Duration
	// HTTPClient is the client to send with (default: a clone of
	// http.DefaultTransport). Its redirect policy is replaced so that the
	// API key is never sent to a redirect target; the value passed in is not
	// modified.
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent (default DefaultUserAgent).
	UserAgent string
	// Retry is the retry policy; zero fields take defaults.
	Retry RetryPolicy
	// Clock is used for backoff sleeps, Retry-After dates and timing
	// (default clock.System).
	Clock clock.Clock
	// Limiter paces every attempt. Nil means LimiterFor(APIKey), shared by all
	// clients in the process that use the same key, unless NoLimiter is set.
	// Tests should pass their own (e.g. NewLimiter(WithLimiterClock(fake)))
	// so that they neither share nor wait on the process-wide one.
	Limiter   *Limiter
	NoLimiter bool
	// Observer, if set, is called after every attempt. It must be fast and
	// safe for concurrent use.
	Observer func(RequestInfo)
}

// RequestInfo describes one attempt for Config.Observer. It carries no
// secrets.
type RequestInfo struct {
	Method     string
	Path       string // relative to the base URL, e.g. "/webhook/12"
	Attempt    int    // 1 for the first attempt
	Status     int    // HTTP status, 0 when no answer was received
	Duration   time.Duration
	RetryAfter time.Duration // the server's Retry-After, if any
	Err        error         // the attempt's error (nil on 2xx)
}

// Client talks to the CertCentral webhook API. It is safe for concurrent use.
type Client struct {
	base      string
	apiKey    string
	timeout   time.Duration
	hc        *http.Client
	userAgent string
	retry     RetryPolicy
	clock     clock.Clock
	limiter   *Limiter
	observer  func(RequestInfo)

	// seen holds the most recent secrets this client sent or read, so that
	// server text echoing one of them is scrubbed too.
	seenMu sync.Mutex
	seen   []string
}

// maxSeen bounds Client.seen.
const maxSeen = 16

// remember adds secrets to the client's scrub list.
func (c *Client) remember(secrets ...string) {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	for _, v := range secrets {
		if len(v) < minRedactLen || slices.Contains(c.seen, v) {
			continue
		}
		if len(c.seen) >= maxSeen {
			c.seen = c.seen[len(c.seen)-maxSeen+1:]
		}
		c.seen = append(c.seen, v)
	}
}

// sensitive returns what to scrub from server text: the API key, the secrets
// of this call and those seen recently.
func (c *Client) sensitive(extra []string) []string {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	return slices.Concat([]string{c.apiKey}, extra, c.seen)
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("certcentral: config: API key is required")
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("certcentral: config: API key contains a line break")
	}
	base := cfg.BaseURL
	if base == "" {
		base = USBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("certcentral: config: base URL %q must be an http(s) URL without query", base)
	}
	c := &Client{
		base:      strings.TrimRight(base, "/"),
		apiKey:    cfg.APIKey,
		timeout:   cfg.Timeout,
		userAgent: cfg.UserAgent,
		retry:     cfg.Retry.withDefaults(),
		clock:     cfg.Clock,
		limiter:   cfg.Limiter,
		observer:  cfg.Observer,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.clock == nil {
		c.clock = clock.System
	}
	if c.limiter == nil && !cfg.NoLimiter {
		c.limiter = LimiterFor(cfg.APIKey)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// WithAPIKey returns a client like c that authenticates with apiKey: same base URL,
// HTTP client, timeouts, retries, clock, observer and limiter (a conservative choice for
// the process-wide one: the other key's budget is spent too). keyroll uses it to prove that
// a new API key works.
func (c *Client) WithAPIKey(apiKey string) (*Client, error) {
	if apiKey == "" {
		return nil, errors.New("certcentral: config: API key is required")
	}
	if strings.ContainsAny(apiKey, "\r\n") {
		return nil, errors.New("certcentral: config: API key contains a line break")
	}
	n := &Client{base: c.base, apiKey: apiKey, timeout: c.timeout, hc: c.hc, userAgent: c.userAgent,
		retry: c.retry, clock: c.clock, limiter: c.limiter, observer: c.observer}
	c.seenMu.Lock()
	n.seen = append(slices.Clone(c.seen), c.apiKey)
	c.seenMu.Unlock()
	if len(n.seen) > maxSeen {
		n.seen = n.seen[len(n.seen)-maxSeen:]
	}
	return n, nil
}

// call is one API call.
type call struct {
	method string
	path   string
	body   []byte   // nil: no body
	redact []string // sensitive strings to scrub from server text
	// noReplay: the call must not be sent twice when its first attempt may have been
	// applied (a create); only a 429 is retried.
	noReplay bool
}

// result is the successful answer to a call.
type result struct {
	status int
	body   []byte
}

// do runs a call with rate limiting and retries.
func (c *Client) do(ctx context.Context, cl call) (result, error) {
	c.remember(cl.redact...)
	cl.redact = c.sensitive(cl.redact)
	var last error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return result{}, c.stopped(cl, last, err)
		}
		if c.limiter != nil {
			if err := c.limiter.wait(ctx); err != nil {
				return result{}, c.stopped(cl, last, err)
			}
		}
		res, retryAfter, err := c.attempt(ctx, cl, attempt)
		if err == nil {
			return res, nil
		}
		if !IsRetryable(err) {
			return result{}, err
		}
		var ae *APIError
		if cl.noReplay && !(errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests) {
			return result{}, err // it may have been applied: the caller must look first
		}
		if ctx.Err() != nil {
			var te *TransportError
			if errors.As(err, &te) { // the attempt failed because ctx ended
				return result{}, c.stopped(cl, last, ctx.Err())
			}
			return result{}, c.stopped(cl, err, ctx.Err())
		}
		last = err
		if attempt >= c.retry.MaxAttempts || retryAfter > c.retry.MaxRetryAfter {
			return result{}, &RetryError{Attempts: attempt, Err: err}
		}
		wait := retryAfter
		if wait <= 0 {
			wait = c.retry.backoff(attempt)
		}
		if dl, ok := ctx.Deadline(); ok && wait > time.Until(dl) { // deadlines are real time
			return result{}, &RetryError{Attempts: attempt, Err: err}
		}
		if err := c.clock.Sleep(ctx, wait); err != nil {
			return result{}, c.stopped(cl, last, err)
		}
	}
}

// stopped is the error of a call ended by its context (or the limiter's
// deadline check), keeping the last attempt's error when there was one.
func (c *Client) stopped(cl call, last, ctxErr error) error {
	if last != nil {
		return fmt.Errorf("%w (stopped retrying: %w)", last, ctxErr)
	}
	return fmt.Errorf("certcentral: %s %s: %w", cl.method, cl.path, ctxErr)
}

// attempt sends the request once. It returns the server's Retry-After with a
// retryable APIError.
func (c *Client) attempt(ctx context.Context, cl call, n int) (res result, retryAfter time.Duration, err error) {
	start := time.Now() // the round trip is real time even with a fake Clock
	status := 0
	defer func() {
		if c.observer != nil {
			c.observer(RequestInfo{Method: cl.method, Path: cl.path, Attempt: n, Status: status,
				Duration: time.Since(start), RetryAfter: retryAfter, Err: err})
		}
	}()

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, c.base+cl.path, body)
	if err != nil {
		return result{}, 0, fmt.Errorf("certcentral: %s %s: %w", cl.method, cl.path, err)
	}
	req.Header.Set("X-DC-DEVKEY", c.apiKey)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{}, 0, &TransportError{Method: cl.method, Path: cl.path, Err: err}
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	ok := status >= 200 && status < 300
	if err != nil && ok {
		return result{}, 0, &TransportError{Method: cl.method, Path: cl.path, Err: fmt.Errorf("reading response: %w", err)}
	}
	if ok {
		if len(data) > maxBody {
			return result{}, 0, fmt.Errorf("certcentral: %s %s: %w: body larger than %d bytes", cl.method, cl.path, ErrMalformedResponse, maxBody)
		}
		return result{status: status, body: data}, 0, nil
	}
	ae := &APIError{Method: cl.method, Path: cl.path, Status: status,
		Errors: decodeErrors(data, cl.redact), RetryAfter: parseRetryAfter(resp.Header, c.clock.Now())}
	return result{}, ae.RetryAfter, ae
}

// decodeErrors reads DigiCert's error body, tolerating anything else.
func decodeErrors(data []byte, redact []string) []ErrorDetail {
	var body struct {
		Errors []ErrorDetail `json:"errors"`
	}
	if json.Unmarshal(data, &body) != nil {
		return nil
	}
	out := body.Errors[:0]
	for _, d := range body.Errors {
		if d.Code == "" && d.Message == "" {
			continue
		}
		d.Code = scrub(d.Code, redact)
		d.Message = scrub(d.Message, redact)
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
