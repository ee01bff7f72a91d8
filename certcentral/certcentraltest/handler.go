package certcentraltest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRequestBody bounds request bodies.
const maxRequestBody = 1 << 20

// reply is an answer not yet written, so that it can be dropped instead.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func jsonReply(status int, body []byte) reply {
	return reply{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: body}
}

func noContent() reply { return reply{status: http.StatusNoContent, header: http.Header{}} }

// errorReply is DigiCert's error body with one entry.
func errorReply(status int, code, msg string) reply {
	b, _ := json.Marshal(map[string][]map[string]string{"errors": {{"code": code, "message": msg}}})
	return jsonReply(status, b)
}

func routeNotFound() reply {
	return errorReply(http.StatusNotFound, "not_found|route", "The requested route was not found.")
}

// firstCode extracts the first error code of a reply body for the log.
func firstCode(body []byte) string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// ServeHTTP implements http.Handler: latency, authentication, faults, rate
// limit, routing, logging, and then answering or dropping the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	path, inAPI := strings.CutPrefix(r.URL.Path, BasePath)
	if !inAPI {
		path = r.URL.Path
	}
	key := r.Header.Get("X-DC-DEVKEY")
	hdr := r.Header.Clone()
	hdr.Del("X-DC-DEVKEY")
	rec := Request{Time: s.now(), Method: r.Method, Path: path, Query: r.URL.RawQuery,
		KeyFingerprint: Fingerprint(key), Header: hdr, Body: body}

	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if !sleep(r.Context(), latency) {
		s.finish(rec) // the client went away; Status stays 0
		return
	}

	rep, drop := s.handle(r.Context(), &rec, inAPI, key, body, readErr)
	rec.Status, rec.Code, rec.Dropped = rep.status, firstCode(rep.body), drop
	if drop {
		s.finish(rec)
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	s.finish(rec)
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.status != http.StatusNoContent {
		w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)))
	}
	w.WriteHeader(rep.status)
	if len(rep.body) > 0 {
		_, _ = w.Write(rep.body)
	}
}

func (s *Server) finish(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logRequest(rec)
}

// handle decides the answer. drop means: close the connection instead (the
// reply then says what would have been answered, if anything).
func (s *Server) handle(ctx context.Context, rec *Request, inAPI bool, key string, body []byte, readErr error) (rep reply, drop bool) {
	if !inAPI {
		return routeNotFound(), false
	}
	c, denied, ok := s.authenticate(key)
	if !ok {
		return denied, false
	}

	f := s.takeFault(rec.Method, rec.Path)
	if f != nil {
		rec.Injected = true
		if !sleep(ctx, f.Latency) {
			return reply{}, true
		}
		if f.DropRequest {
			return reply{}, true
		}
		if f.Status != 0 && !f.DropResponse && !f.Apply {
			return faultReply(f), false
		}
	}

	if ok, wait := s.admit(c.fp); !ok {
		rep := errorReply(http.StatusTooManyRequests, "request_limit_exceeded",
			"Too many requests. Please try again later.")
		if s.opts.retryAfter {
			secs := int64((wait + time.Second - 1) / time.Second)
			rep.header.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		}
		return rep, false
	}
	if readErr != nil {
		return errorReply(http.StatusBadRequest, "bad_request_format", "The request body could not be read."), false
	}
	rep = s.route(ctx, c, rec.Method, rec.Path, rec.Query, body)
	if f == nil {
		return rep, false
	}
	if f.Apply && f.Status != 0 {
		rep = faultReply(f)
	}
	if !sleep(ctx, f.ResponseLatency) {
		return rep, true // the client gave up waiting
	}
	return rep, f.DropResponse
}

// caller is who a request authenticated as.
type caller struct {
	acct  *Account
	keyID int
	role  int
	fp    string // the key's fingerprint: rate limits are per key
}

// authenticate finds the active key sent as X-DC-DEVKEY and records its use; else it
// returns the answer: the unknown-key answer for a missing, unknown or not yet working
// key (WithNewKeyDelay), the revoked-key answer for a revoked one.
func (s *Server) authenticate(key string) (caller, reply, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[key]
	if key == "" || k == nil || now.Before(k.readyAt) {
		return caller{}, jsonReply(s.opts.unauthStatus, []byte(s.opts.unauthBody)), false
	}
	if k.Status != KeyActive {
		return caller{}, jsonReply(s.opts.revokedStatus, []byte(s.opts.revokedBody)), false
	}
	k.LastUsed = s.usedTime(now)
	return caller{acct: k.acct, keyID: k.ID, role: k.RoleID, fp: k.Fingerprint}, reply{}, true
}

// admit applies the rate limit of the key with fingerprint fp.
func (s *Server) admit(fp string) (bool, time.Duration) {
	if len(s.opts.limits) == 0 {
		return true, 0
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.rates[fp]
	if k == nil {
		k = &keyRate{}
		s.rates[fp] = k
	}
	ok, wait := k.admit(now, s.opts.limits, s.opts.countRejected)
	if !ok {
		s.stats.RateLimited++
	}
	return ok, wait
}

// sleep waits d of real time; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jsonString encodes v as a JSON string in the configured style.
func (s *Server) jsonString(v string) []byte {
	b, _ := json.Marshal(v)
	return s.styled(b)
}

// marshal encodes v as JSON in the configured style.
func (s *Server) marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the simulator's own types are marshaled
	}
	return s.styled(b)
}

// styled rewrites encoded JSON in the configured style: with WithPHPStyleJSON, "/" and
// every non-ASCII character escaped (both occur only inside strings).
func (s *Server) styled(b []byte) []byte {
	if !s.opts.phpJSON {
		return b
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		switch {
		case r == '/':
			out.WriteString(`\/`)
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			out.WriteString(`\u` + hex4(0xD800+(r>>10)) + `\u` + hex4(0xDC00+(r&0x3FF)))
		default:
			out.WriteString(`\u` + hex4(r))
		}
	}
	return out.Bytes()
}

func hex4(r rune) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[r>>12&0xF], digits[r>>8&0xF], digits[r>>4&0xF], digits[r&0xF]})
}
