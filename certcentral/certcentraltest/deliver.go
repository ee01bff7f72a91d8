package certcentraltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrDelivery reports a delivery that did not get a 2xx answer.
var ErrDelivery = errors.New("certcentraltest: delivery failed")

// deliver POSTs payload to endpoint with secret as X-WEBHOOK-KEY (none when
// empty), logs it, and returns the listener's status.
func (s *Server) deliver(ctx context.Context, accountFP, endpoint, secret, event string, payload []byte) (int, error) {
	d := Delivery{Time: s.now(), Event: event, Endpoint: endpoint, Key: secret, KeySent: secret != "",
		AccountFingerprint: accountFP, Body: payload}
	status, err := s.post(ctx, endpoint, secret, payload)
	d.Status = status
	if err != nil {
		d.Err = err.Error()
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.stats.Deliveries++
	if err != nil {
		s.stats.FailedDeliveries++
	}
	s.mu.Unlock()
	return status, err
}

func (s *Server) post(ctx context.Context, endpoint, secret string, payload []byte) (int, error) {
	if s.opts.deliveryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.deliveryTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrDelivery, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "certcentraltest-webhook/1")
	if secret != "" {
		req.Header.Set("X-WEBHOOK-KEY", secret)
	}
	// A delivery may be sent again (DigiCert's retries carry the same event): marking it
	// replayable lets net/http resend it when a kept-alive connection turns out to have
	// been closed by the listener, instead of failing it with EOF. The nil value is not sent.
	req.Header["X-Idempotency-Key"] = nil
	resp, err := s.delivery.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrDelivery, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%w: listener answered %d", ErrDelivery, resp.StatusCode)
	}
	return resp.StatusCode, nil
}
