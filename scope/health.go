package scope

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/circuit"
)

// HealthReport is the result of a successful health check.
type HealthReport struct {
	// ServerID is the id of the server connected to.
	ServerID string
	// ServerName is its name.
	ServerName string
	// ServerVersion is its version.
	ServerVersion string
	// ConnectedURL is the URL connected to, credentials redacted.
	ConnectedURL string
	// JetStream reports whether JetStream is enabled for the account.
	JetStream bool
	// RTT is the round-trip time of one flush (PING/PONG).
	RTT time.Duration
	// OpenBreakers lists the destinations of the connection's gate whose
	// breaker is open or half-open, as detail: they fail the calls to those
	// destinations, not the health check. Empty without a gate.
	OpenBreakers []circuit.DestinationState
}

// Health opens a scope (see [Open]; a pooled connection is reused),
// measures the round trip and reports the server and whether JetStream is
// enabled. Each step is bounded by flush_timeout and ctx. A dial made for a
// health check bypasses the gate's connect breaker (it measures the
// server, not the breaker) and does not feed it.
func Health(ctx context.Context, url string, opts ...Option) (HealthReport, error) {
	return healthWith(ctx, url, newOptions(opts))
}

func healthWith(ctx context.Context, url string, o *options) (r HealthReport, err error) {
	o.noGate = true
	s, err := openWith(ctx, url, o)
	if err != nil {
		return r, err
	}
	defer s.closeInto(ctx, &err)
	return s.Health(ctx)
}

// Health checks the scope's connection: it must be connected, answer a
// flush within flush_timeout (the RTT), and JetStream is probed with an
// account-info request (not enabled is reported, not an error). Readiness
// follows the connection's health only: destination breakers of the gate
// that are open are reported in [HealthReport.OpenBreakers] without failing
// the check.
func (s *Scope) Health(ctx context.Context) (HealthReport, error) {
	nc := s.RawConn() // the check measures the server: nothing traced or gated
	if st := nc.Status(); st != nats.CONNECTED {
		return HealthReport{}, fmt.Errorf("scope: health: connection to %s is %v: %w",
			nc.ConnectedUrlRedacted(), st, nats.ErrDisconnected)
	}
	fctx, cancel := context.WithTimeout(ctx, s.pc.cfg.FlushTimeout)
	defer cancel()
	start := time.Now()
	if err := nc.FlushWithContext(fctx); err != nil {
		return HealthReport{}, fmt.Errorf("scope: health: flush: %w", err)
	}
	r := HealthReport{
		ServerID:      nc.ConnectedServerId(),
		ServerName:    nc.ConnectedServerName(),
		ServerVersion: nc.ConnectedServerVersion(),
		ConnectedURL:  nc.ConnectedUrlRedacted(),
		RTT:           time.Since(start),
	}
	if g := s.Gate(); g != nil {
		r.OpenBreakers = g.State().Destinations
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return r, fmt.Errorf("scope: health: jetstream: %w", err)
	}
	_, err = js.AccountInfo(fctx)
	switch {
	case err == nil:
		r.JetStream = true
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
	default:
		return r, fmt.Errorf("scope: health: jetstream account info: %w", err)
	}
	return r, nil
}

// WaitReady polls [Health] with backoff (50ms doubling up to 2s with 20%
// jitter, or the [WithRetry] policy) until a check succeeds or ctx ends.
// Without a ctx deadline it waits until ctx is cancelled. Permanent errors
// (invalid config, authorization failures; see [IsPermanent]) stop it at
// once. Its error is a [*NotReadyError] (errors.Is [ErrNotReady]) wrapping
// the last cause and ctx's error.
func WaitReady(ctx context.Context, url string, opts ...Option) (HealthReport, error) {
	o := newOptions(opts)
	policy := RetryPolicy{MaxRetries: -1, InitialDelay: 50 * time.Millisecond, BackoffFactor: 2, Jitter: 0.2, MaxDelay: 2 * time.Second}
	if o.retry != nil {
		policy = *o.retry
		o.retry = nil // the polling policy, not a dial policy
	}
	start := time.Now()
	var (
		attempts int
		last     error
	)
	r, err := RetryValue(ctx, policy, func(ctx context.Context) (HealthReport, error) {
		attempts++
		r, err := healthWith(ctx, url, o)
		// Keep the last real cause: an attempt cut short by the deadline
		// says nothing new.
		if err != nil && (last == nil || ctx.Err() == nil || !errors.Is(err, ctx.Err())) {
			last = err
		}
		return r, err
	})
	if err == nil {
		return r, nil
	}
	if errors.Is(err, ErrInvalidOption) && attempts == 0 {
		return r, err
	}
	if last == nil {
		last = err
	}
	var ctxErr error
	if ctx.Err() != nil {
		ctxErr = context.Cause(ctx)
	}
	return r, &NotReadyError{Attempts: attempts, Elapsed: time.Since(start), Last: last, Ctx: ctxErr}
}

// HealthResult is one check of a [HealthChecker].
type HealthResult struct {
	// Report is the check's report (zero on failure).
	Report HealthReport
	// Err is nil when the check passed.
	Err error
	// At is when the check finished.
	At time.Time
	// ConsecutiveFailures counts failed checks in a row, this one included.
	ConsecutiveFailures int
}

// HealthChecker runs [Health] periodically (the seed's
// ConnectionHealthChecker). Start launches one goroutine; Stop (or the end
// of Start's ctx) ends it. It is safe for concurrent use.
type HealthChecker struct {
	cfg      Config
	interval time.Duration
	o        *options

	mu     sync.Mutex
	last   HealthResult
	cancel context.CancelFunc
	done   chan struct{}
}

// NewHealthChecker returns a checker for url (see [Open]; the config is
// loaded once, now) that checks every interval. interval <= 0 returns an
// error matching [ErrInvalidOption]; a bad config returns its
// [*ConfigError]. Options: every [Option] (the config, [WithPool],
// [WithRetry] and [WithLimiter] for each check's acquire) and
// [WithOnCheck], which observes every result.
func NewHealthChecker(url string, interval time.Duration, opts ...HealthCheckerOption) (*HealthChecker, error) {
	if interval <= 0 {
		return nil, invalidOption("NewHealthChecker interval", interval, "a duration > 0")
	}
	o := newOptions(opts)
	o.noGate = true
	cfg, err := o.loadConfig(url)
	if err != nil {
		return nil, err
	}
	return &HealthChecker{cfg: cfg, interval: interval, o: o}, nil
}

// Start runs a check at once and then every interval in a new goroutine
// until [HealthChecker.Stop] or ctx ends. Starting a running checker
// returns [ErrAlreadyStarted]; a stopped checker may be started again.
func (h *HealthChecker) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done != nil {
		select {
		case <-h.done:
		default:
			return ErrAlreadyStarted
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	done := make(chan struct{})
	h.done = done
	go h.loop(ctx, done)
	return nil
}

func (h *HealthChecker) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.run(ctx, true)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check runs one check now (bounded by the interval, at least 1s, and ctx),
// records it as the latest result and returns it.
func (h *HealthChecker) Check(ctx context.Context) HealthResult {
	return h.run(ctx, false)
}

// run checks once; a periodic check cut short by Stop (or the end of
// Start's ctx) is discarded rather than recorded as a failure.
func (h *HealthChecker) run(ctx context.Context, periodic bool) HealthResult {
	timeout := max(h.interval, time.Second)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	r, err := h.check(cctx)
	cancel()
	if periodic && ctx.Err() != nil {
		return HealthResult{}
	}
	h.mu.Lock()
	res := HealthResult{Report: r, Err: err, At: time.Now()}
	if err != nil {
		res.ConsecutiveFailures = h.last.ConsecutiveFailures + 1
	}
	h.last = res
	h.mu.Unlock()
	if h.o.onCheck != nil {
		h.o.onCheck(res)
	}
	return res
}

func (h *HealthChecker) check(ctx context.Context) (r HealthReport, err error) {
	p := h.o.pool
	if p == nil {
		p = DefaultPool()
	}
	cfg := h.cfg
	s, err := p.acquire(ctx, &cfg, h.o)
	if err != nil {
		return r, err
	}
	defer s.closeInto(ctx, &err)
	return s.Health(ctx)
}

// Stop ends the checking goroutine and waits for it to exit. It is
// idempotent and safe to call on a checker that never started.
func (h *HealthChecker) Stop() {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Last returns the latest result; ok is false before the first check.
func (h *HealthChecker) Last() (r HealthResult, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, !h.last.At.IsZero()
}

// Healthy reports whether the latest check passed (false before the
// first).
func (h *HealthChecker) Healthy() bool {
	r, ok := h.Last()
	return ok && r.Err == nil
}
