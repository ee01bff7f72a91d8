package listener

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/clock"
	"github.com/keyroll/keyroll/keyset"
)

// Defaults for the zero values of Config.
const (
	// DefaultMaxStaleness is how long a verifier keeps its last good key set while the
	// document cannot be read, when Config.MaxStaleness is 0 (but at least 3 refreshes). It
	// is shorter than keyroll's default propagation delay (2m), so that a replica cut off
	// from Vault fails closed (503) before DigiCert can be sent a key it never read.
	DefaultMaxStaleness = 90 * time.Second
	// DefaultReadTimeout bounds one read of the document.
	DefaultReadTimeout = 10 * time.Second
	// DefaultMaxBodyBytes bounds the request body Middleware and EventHandler let through.
	DefaultMaxBodyBytes = 1 << 20
)

// Errors Ready returns (wrapped) when the verifier cannot verify.
var (
	// ErrNotLoaded: the key document has not been read successfully yet.
	ErrNotLoaded = errors.New("listener: key set not loaded yet")
	// ErrStale: the last good key set is older than MaxStaleness.
	ErrStale = errors.New("listener: key set stale")
)

// DocumentSource reads a target's key document. listener/vaultsource adapts keyroll's
// Vault store to it; a receiver may bring its own. Errors are wrapped and returned by Load
// and Ready as they are.
type DocumentSource interface {
	Read(ctx context.Context, path string) (Versioned, error)
}

// Versioned is a key document and the version it was read at (for logs and Status; 0
// when the source has no versions).
type Versioned struct {
	Doc     keyset.Document
	Version int
}

// Config configures a Verifier.
type Config struct {
	// Source reads the document; required.
	Source DocumentSource
	// Path is the target's vault_path, as Source.Read takes it; required.
	Path string
	// Target names the target in logs and metrics.
	Target string
	// Refresh is how often Run re-reads the document. 0: no cache, every request reads it.
	Refresh time.Duration
	// MaxStaleness is how long after its last successful read the key set is still
	// used while reads fail; past it every delivery is rejected. 0: DefaultMaxStaleness
	// (or 3 × Refresh if longer). It must exceed Refresh. Unused with Refresh 0.
	MaxStaleness time.Duration
	// ReadTimeout bounds one read of the document. 0: DefaultReadTimeout.
	ReadTimeout time.Duration
	// MaxBodyBytes bounds the body Middleware lets through. 0: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Clock decides expiry and staleness. nil: the system clock. Run's refresh cadence
	// always uses real timers.
	Clock clock.Clock
	// Log receives refresh problems and rejections; never a key or the header.
	Log zerolog.Logger
	// LogEvery is the least time between two rejection lines of Middleware for one reason;
	// the lines in between are counted in the next one. 0: DefaultLogEvery.
	LogEvery time.Duration
}

// Verifier decides whether an X-WEBHOOK-KEY is in the accept set of one target's key
// document. Its methods are safe for concurrent use.
type Verifier struct {
	src      DocumentSource
	path     string
	target   string
	refresh  time.Duration
	maxStale time.Duration
	timeout  time.Duration
	maxBody  int64
	clock    clock.Clock // nil: system clock
	log      zerolog.Logger

	snap  atomic.Pointer[snapshot]
	stats counters
	descs *metricDescs

	flightMu sync.Mutex           // guards cur and next
	cur      *readCall            // the read in flight with Refresh 0
	next     *readCall            // the read that starts when cur ends, shared by the requests that came since
	rejects  [numReasons]*rateLog // Middleware's rejection lines, limited per reason
	readLog  *rateLog             // with Refresh 0, the lines about failed reads

	mu          sync.Mutex // guards the fields below and the installing of snapshots
	lastAttempt time.Time
	lastErr     error
	failingFrom time.Time // first failed read since the last success; zero when reads succeed
	closedLog   bool      // "rejecting every delivery" logged for this failure episode
}

// New returns a Verifier for cfg. It does not read the document: call Load or Run.
func New(cfg Config) (*Verifier, error) {
	var problems []error
	if cfg.Source == nil {
		problems = append(problems, errors.New("Source is required"))
	}
	if cfg.Path == "" {
		problems = append(problems, errors.New("Path is required"))
	}
	if cfg.Refresh < 0 {
		problems = append(problems, fmt.Errorf("Refresh %s is negative", cfg.Refresh))
	}
	if cfg.MaxStaleness < 0 {
		problems = append(problems, fmt.Errorf("MaxStaleness %s is negative", cfg.MaxStaleness))
	}
	if cfg.Refresh > 0 && cfg.MaxStaleness != 0 && cfg.MaxStaleness <= cfg.Refresh {
		problems = append(problems, fmt.Errorf("MaxStaleness %s must exceed Refresh %s, or the key set goes stale between two successful reads", cfg.MaxStaleness, cfg.Refresh))
	}
	if cfg.ReadTimeout < 0 {
		problems = append(problems, fmt.Errorf("ReadTimeout %s is negative", cfg.ReadTimeout))
	}
	if cfg.MaxBodyBytes < 0 {
		problems = append(problems, fmt.Errorf("MaxBodyBytes %d is negative", cfg.MaxBodyBytes))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("listener: invalid config: %w", errors.Join(problems...))
	}
	v := &Verifier{
		src:      cfg.Source,
		path:     cfg.Path,
		target:   cfg.Target,
		refresh:  cfg.Refresh,
		maxStale: cfg.MaxStaleness,
		timeout:  cfg.ReadTimeout,
		maxBody:  cfg.MaxBodyBytes,
		clock:    cfg.Clock,
		descs:    newMetricDescs(cfg.Target),
	}
	if v.maxStale == 0 {
		v.maxStale = max(DefaultMaxStaleness, 3*v.refresh)
	}
	if v.timeout == 0 {
		v.timeout = DefaultReadTimeout
	}
	if v.maxBody == 0 {
		v.maxBody = DefaultMaxBodyBytes
	}
	for i := range v.rejects {
		v.rejects[i] = newRateLog(cfg.LogEvery, v.now)
	}
	v.readLog = newRateLog(cfg.LogEvery, v.now)
	v.log = cfg.Log.With().Str("target", cfg.Target).Logger()
	return v, nil
}

func (v *Verifier) now() time.Time {
	if v.clock == nil {
		return time.Now()
	}
	return v.clock.Now()
}

// since is the time elapsed after t. With the system clock it reads only the monotonic
// clock, the cheapest clock read there is.
func (v *Verifier) since(t time.Time) time.Duration {
	if v.clock == nil {
		return time.Since(t)
	}
	return v.clock.Now().Sub(t)
}

// Verify reports whether key is in the accept set now and which role it matched. It is
// Check without a context: with Refresh 0 the read it does is bounded by ReadTimeout only.
func (v *Verifier) Verify(key string) (keyset.Role, bool) {
	role, reason := v.Check(context.Background(), key)
	return role, reason == ReasonNone
}

// Check is Verify with the reason of a rejection. ctx bounds the read done for this
// request with Refresh 0 and is otherwise unused. Every call is counted in Stats.
func (v *Verifier) Check(ctx context.Context, key string) (keyset.Role, Reason) {
	var role keyset.Role
	var reason Reason
	switch {
	case key == "":
		reason = ReasonMissingKey
	case v.refresh == 0:
		role, reason = v.checkUncached(ctx, key)
	default:
		role, reason = v.checkCached(key)
	}
	v.stats.count(role, reason)
	return role, reason
}

func (v *Verifier) checkCached(key string) (keyset.Role, Reason) {
	s := v.snap.Load()
	if s == nil {
		return keyset.RoleNone, ReasonUnavailable
	}
	elapsed := v.since(s.base)
	if elapsed > v.maxStale {
		return keyset.RoleNone, ReasonUnavailable
	}
	return s.match([]byte(key), elapsed)
}

func (v *Verifier) checkUncached(ctx context.Context, key string) (keyset.Role, Reason) {
	s, err := v.sharedRead(ctx)
	if err != nil {
		return keyset.RoleNone, ReasonUnavailable
	}
	return s.match([]byte(key), v.since(s.base))
}

// Load reads the document once and, on success, makes it the key set. On failure the
// previous key set stays in use (until it is older than MaxStaleness) and the error is
// returned and logged. Run calls it every Refresh; call it directly to load before
// serving.
func (v *Verifier) Load(ctx context.Context) error {
	_, err := v.read(ctx)
	return err
}

// readCall is one read of the document shared by every request that waits for it.
type readCall struct {
	done chan struct{}
	s    *snapshot
	err  error
}

// sharedRead is read for Refresh 0. Every request needs a read that started after it
// arrived (a key staged just before must be seen), but requests that arrive while a read
// is in flight all share the one read queued behind it. However many requests come in at
// once, authenticated or not, a verifier has at most one read of the document in flight
// and one queued.
func (v *Verifier) sharedRead(ctx context.Context) (*snapshot, error) {
	v.flightMu.Lock()
	if v.cur == nil {
		c := &readCall{done: make(chan struct{})}
		v.cur = c
		v.flightMu.Unlock()
		v.runRead(ctx, c)
		return c.s, c.err
	}
	c, lead := v.next, false
	if c == nil {
		c, lead = &readCall{done: make(chan struct{})}, true
		v.next = c
	}
	running := v.cur
	v.flightMu.Unlock()
	if lead {
		// The queued read serves every request that joined it: it starts when the running
		// one has ended (and made it the running one), whatever happens to this request's
		// context.
		<-running.done
		v.runRead(ctx, c)
		return c.s, c.err
	}
	select {
	case <-c.done:
		return c.s, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runRead carries out c, the running read, makes the queued read (if any) the running one
// and lets c's waiters go.
func (v *Verifier) runRead(ctx context.Context, c *readCall) {
	c.s, c.err = v.read(context.WithoutCancel(ctx)) // ReadTimeout bounds it
	v.flightMu.Lock()
	v.cur, v.next = v.next, nil
	v.flightMu.Unlock()
	close(c.done)
}

// read reads the document, installs it as the key set and returns it.
func (v *Verifier) read(ctx context.Context) (*snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	start := v.now()
	vv, err := v.src.Read(ctx, v.path)
	if err != nil {
		v.stats.refreshErrors.Add(1)
		err = fmt.Errorf("listener: read key document %s: %w", v.path, err)
		v.failed(start, err)
		return nil, err
	}
	s := newSnapshot(vv, start)
	v.stats.refreshes.Add(1)
	v.succeeded(s)
	return s, nil
}

// succeeded installs s and logs what changed.
func (v *Verifier) succeeded(s *snapshot) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.snap.Load()
	if old != nil && old.base.After(s.base) {
		// A concurrent read that started later (Refresh 0) already installed a fresher set.
		return
	}
	v.snap.Store(s)
	v.lastAttempt, v.lastErr = s.base, nil
	if !v.failingFrom.IsZero() {
		v.log.Info().Dur("failing_for", s.base.Sub(v.failingFrom)).Int("version", s.version).Msg("key set read again")
		v.failingFrom, v.closedLog = time.Time{}, false
	}
	if old != nil && old.version == s.version {
		v.log.Debug().Int("version", s.version).Msg("key set unchanged")
		return
	}
	ev := v.log.Info().Int("version", s.version).Str("rotation_id", s.rotationID).Str("state", s.state).
		Str("current_fingerprint", s.fingerprints[0]).
		Str("pending_fingerprint", s.fingerprints[1]).
		Str("previous_fingerprint", s.fingerprints[2])
	if s.hasWindow {
		ev = ev.Time("previous_until", s.previousUntil)
	}
	if old == nil {
		ev.Msg("key set loaded")
	} else {
		ev.Int("old_version", old.version).Msg("key set updated")
	}
}

// failed records a failed read and logs it: a warning while the last good set is still
// used, an error (once per episode) when the verifier is failing closed.
func (v *Verifier) failed(at time.Time, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastAttempt, v.lastErr = at, err
	if v.failingFrom.IsZero() {
		v.failingFrom = at
	}
	if v.refresh == 0 {
		// One line a LogEvery at most: every request reads, and each can fail.
		if ev := v.readLog.event(&v.log, zerolog.WarnLevel); ev != nil {
			ev.Err(err).Msg("key document read failed: rejecting deliveries until a read succeeds")
		}
		return
	}
	s := v.snap.Load()
	closed := s == nil || at.Sub(s.base) > v.maxStale
	switch {
	case closed && !v.closedLog:
		v.closedLog = true
		if s == nil {
			v.log.Error().Err(err).Msg("no key set loaded: rejecting every delivery until a read succeeds")
			return
		}
		v.log.Error().Err(err).Dur("staleness", at.Sub(s.base)).Dur("max_staleness", v.maxStale).
			Msg("key set stale: rejecting every delivery until a read succeeds")
	case closed:
		v.log.Warn().Err(err).Msg("key set refresh failed: still rejecting every delivery")
	default:
		v.log.Warn().Err(err).Dur("staleness", at.Sub(s.base)).Dur("max_staleness", v.maxStale).
			Int("version", s.version).Msg("key set refresh failed: keeping the last good set")
	}
}

// Run loads the document and re-reads it every Refresh until ctx ends; after a failed
// read it retries sooner, backing off from min(1s, Refresh) up to Refresh. With Refresh
// 0 it only waits for ctx, since every request reads the document. Call it once, in its
// own goroutine.
func (v *Verifier) Run(ctx context.Context) {
	if v.refresh == 0 {
		<-ctx.Done()
		return
	}
	minRetry := min(time.Second, v.refresh)
	retry := minRetry
	// A set loaded just before (Load before serving) is not read again at once.
	var wait time.Duration
	if s := v.snap.Load(); s != nil {
		wait = max(0, v.refresh-v.since(s.base))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		err := v.Load(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait, retry = retry, min(2*retry, v.refresh)
		} else {
			wait, retry = max(0, v.refresh-time.Since(start)), minRetry
		}
		t.Reset(wait)
	}
}

// Ready returns nil when a delivery carrying a valid key would be accepted now: the key
// set is loaded and not older than MaxStaleness. With Refresh 0 it reads the document,
// sharing the read with the requests in flight as Check does (at most one read in
// flight and one queued, however many probes and deliveries come).
// Otherwise the error wraps ErrNotLoaded or ErrStale (Refresh > 0) or the read error.
func (v *Verifier) Ready(ctx context.Context) error {
	if v.refresh == 0 {
		_, err := v.sharedRead(ctx) // coalesced with the deliveries' reads
		return err
	}
	s := v.snap.Load()
	if s == nil {
		return v.withLastErr(ErrNotLoaded)
	}
	if age := v.since(s.base); age > v.maxStale {
		return v.withLastErr(fmt.Errorf("%w: last good read %s ago, max %s", ErrStale, age.Round(time.Millisecond), v.maxStale))
	}
	return nil
}

func (v *Verifier) withLastErr(err error) error {
	v.mu.Lock()
	last := v.lastErr
	v.mu.Unlock()
	if last != nil {
		return fmt.Errorf("%w (last error: %w)", err, last)
	}
	return err
}

// Status is the state of a verifier's key set, without any key.
type Status struct {
	Target string
	// Loaded: a read has succeeded at least once.
	Loaded bool
	// Fresh: deliveries can be verified now (Ready would return nil; with Refresh 0:
	// the last read succeeded).
	Fresh bool
	// LoadedAt is when the read of the key set in use started; Staleness is its age.
	LoadedAt  time.Time
	Staleness time.Duration
	// MaxStaleness is the age past which the set is no longer used.
	MaxStaleness time.Duration
	// LastAttempt is when the last read started; LastError its error ("" on success).
	LastAttempt time.Time
	LastError   string
	// Version, RotationID and State describe the document of the key set in use.
	Version    int
	RotationID string
	State      string
	// Fingerprints of the keys ("" for an empty slot) and whether each is accepted now.
	CurrentFingerprint  string
	PendingFingerprint  string
	PreviousFingerprint string
	PreviousUntil       time.Time
	Accepting           map[keyset.Role]bool
}

// Status returns the state of the key set now.
func (v *Verifier) Status() Status {
	st := Status{Target: v.target, MaxStaleness: v.maxStale, Accepting: map[keyset.Role]bool{}}
	v.mu.Lock()
	st.LastAttempt = v.lastAttempt
	if v.lastErr != nil {
		st.LastError = v.lastErr.Error()
	}
	v.mu.Unlock()
	s := v.snap.Load()
	if s == nil {
		return st
	}
	elapsed := v.since(s.base)
	st.Loaded, st.LoadedAt, st.Staleness = true, s.base, elapsed
	if v.refresh == 0 {
		st.Fresh = st.LastError == ""
	} else {
		st.Fresh = elapsed <= v.maxStale
	}
	st.Version, st.RotationID, st.State = s.version, s.rotationID, s.state
	st.CurrentFingerprint, st.PendingFingerprint, st.PreviousFingerprint = s.fingerprints[0], s.fingerprints[1], s.fingerprints[2]
	st.PreviousUntil = s.previousUntil
	for _, r := range roles {
		st.Accepting[r] = s.set.Accepting(r, elapsed)
	}
	return st
}
