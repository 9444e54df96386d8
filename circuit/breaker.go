package circuit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// Breaker is a circuit breaker guarding the calls of one NATS connection (or
// any other dependency). It is not generic: one breaker guards calls of every
// result type, through [Breaker.Allow] or [Do].
//
// A closed breaker lets every call through and records its outcome. It opens
// when any configured trip condition holds: consecutive failures
// ([WithConsecutiveFailures]), the failure rate over a sliding window
// ([WithFailureRate], [WithCountWindow], [WithTimeWindow]), or the slow-call
// rate over the same window ([WithSlowCalls]). An open breaker rejects calls
// with an error wrapping [ErrOpen] until its open timeout ([WithOpenTimeout],
// [WithOpenBackoff]) has passed, then it is half-open: a limited number of
// concurrent probe calls go through ([WithHalfOpen]); enough successful probes
// close it, any failed probe opens it again, and so does a call that finds
// every probe slot taken for a whole [WithOpenTimeout] (the probes are presumed
// lost: a done never called, or a call slower than the open timeout).
//
// The state changes lazily, on the next Allow or [Breaker.State] after the
// open timeout, but it is always reported as it is: State and the
// nats.client.circuit.state gauge show half-open as soon as the open timeout
// has passed.
//
// A Breaker is safe for concurrent use. It starts no goroutines.
type Breaker struct {
	name     string
	cfg      config
	now      func() time.Time
	classify Classifier

	// gen is the current generation; replaced (never mutated) on every
	// state change, under mu.
	gen atomic.Pointer[generation]

	mu          sync.Mutex
	consecutive int       // consecutive failures while closed
	win         window    // outcomes while closed
	inFlight    int       // probes in flight while half-open
	lastProbe   time.Time // when the last probe was let through
	successes   int       // successful probes while half-open
	trips       int       // openings since the breaker last closed (backoff)
	pending     []transition
	notifying   bool

	tel *telemetry

	closeOnce sync.Once
	closeErr  error
}

// generation is one stay in one state. Results reported by done functions of
// an earlier generation are ignored.
type generation struct {
	id        uint64
	state     State
	openUntil time.Time                  // StateOpen only
	done      func(error, time.Duration) // StateClosed and StateHalfOpen
}

// transition is a state change to announce after the lock is released.
type transition struct {
	from, to State
	reason   string
}

// Reasons of state changes, the value of nats.circuit.reason on span events.
const (
	reasonConsecutive = "consecutive_failures"
	reasonFailureRate = "failure_rate"
	reasonSlowRate    = "slow_call_rate"
	reasonTimeout     = "open_timeout"
	reasonProbeFailed = "probe_failed"
	reasonProbeSlow   = "probe_slow"
	reasonProbeLost   = "probe_lost"
	reasonProbesOK    = "probes_succeeded"
)

// errPanicked is reported to the breaker when the function run by [Do]
// panics; the panic is then re-raised.
var errPanicked = fmt.Errorf("circuit: %w", semconv.ErrPanicked)

// New returns a closed breaker named name (used in errors, telemetry and
// state-change callbacks; it must not be empty). Without options it uses the
// Default* constants ([DefaultConsecutiveFailures] and the others), the
// [DefaultClassifier] and the global MeterProvider; nil options are ignored.
// It returns an error wrapping [ErrInvalidOption] when a setting is out of
// range, naming the setting, its value and what is allowed.
//
// The breaker registers an observable gauge on the MeterProvider
// ([WithMeterProvider]); call [Breaker.Close] to unregister it.
func New(name string, opts ...Option) (*Breaker, error) {
	if name == "" {
		return nil, invalid("name", `""`, "a non-empty name")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Breaker{name: name, cfg: cfg, now: cfg.now, classify: cfg.classifier}
	b.win = newWindow(&b.cfg, b.now())
	g := &generation{state: StateClosed}
	g.done = b.doneFunc(g)
	b.gen.Store(g)
	b.tel = newTelemetry(newInstruments(cfg.meterProvider), name, cfg.destination, b.observedState, !cfg.noGauge)
	return b, nil
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// eventAttrs returns the attributes of a span event of b: its name, its
// destination (breakers of a [Gate]) and extra.
func (b *Breaker) eventAttrs(extra ...attribute.KeyValue) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 2+len(extra))
	attrs = append(attrs, semconv.NATSCircuitNameKey.String(b.name))
	if b.cfg.destination != "" {
		attrs = append(attrs, semconv.NATSCircuitDestinationKey.String(b.cfg.destination))
	}
	return append(attrs, extra...)
}

func noopDone(error, time.Duration) {}

// Allow asks the breaker whether a call may go ahead.
//
// When the call is allowed, err is nil and the caller must run the call and
// then call done exactly once with the call's error (nil for success) and
// how long it took; the duration drives slow-call detection. A done from an
// earlier state (the breaker changed state while the call ran) is ignored.
//
// When the call is rejected, err is an [*OpenError] (errors.Is(err, ErrOpen)
// holds) and done is a no-op that need not be called. A span event
// nats.circuit.rejected is added to the span in ctx, and the
// nats.client.circuit.rejected counter incremented.
//
// On a closed breaker Allow takes no lock and done one short lock; neither
// allocates unless the span in ctx is recording (the span is then kept, to
// record a state change the call causes).
func (b *Breaker) Allow(ctx context.Context) (done func(err error, d time.Duration), err error) {
	g := b.gen.Load()
	if g.state == StateClosed {
		return b.doneFor(ctx, g), nil
	}
	return b.allowSlow(ctx, g)
}

func (b *Breaker) allowSlow(ctx context.Context, g *generation) (func(error, time.Duration), error) {
	now := b.now()
	if g.state == StateOpen && now.Before(g.openUntil) {
		return noopDone, b.reject(ctx, g, now)
	}
	b.mu.Lock()
	g = b.gen.Load()
	var tr transition
	if g.state == StateOpen {
		if now.Before(g.openUntil) {
			b.mu.Unlock()
			return noopDone, b.reject(ctx, g, now)
		}
		tr = b.toLocked(StateHalfOpen, now, reasonTimeout)
		g = b.gen.Load()
	}
	allowed := true
	if g.state == StateHalfOpen {
		switch {
		case b.inFlight < b.cfg.probes:
			b.inFlight++
			b.lastProbe = now
		case !now.Before(b.lastProbe.Add(b.cfg.probeTimeoutOrOpen())):
			// Every probe slot has been taken for a whole open timeout:
			// the probes are lost (done never called) or too slow.
			tr = b.toLocked(StateOpen, now, reasonProbeLost)
			g = b.gen.Load()
			allowed = false
		default:
			allowed = false
		}
	}
	b.mu.Unlock()
	b.announce(tr, trace.SpanFromContext(ctx))
	if !allowed {
		return noopDone, b.reject(ctx, g, now)
	}
	return b.doneFor(ctx, g), nil
}

// doneFor returns the done function of a call allowed in generation g: the
// generation's shared one, or one that keeps the caller's span when it is
// recording.
func (b *Breaker) doneFor(ctx context.Context, g *generation) func(error, time.Duration) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		return func(err error, d time.Duration) { b.record(g, err, d, span) }
	}
	return g.done
}

func (b *Breaker) doneFunc(g *generation) func(error, time.Duration) {
	return func(err error, d time.Duration) { b.record(g, err, d, nil) }
}

func (b *Breaker) reject(ctx context.Context, g *generation, now time.Time) error {
	e := &OpenError{Name: b.name, Destination: b.cfg.destination, State: g.state}
	if g.state == StateOpen {
		e.Remaining = g.openUntil.Sub(now)
	}
	b.tel.rejected(ctx, g.state)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(semconv.EventCircuitRejected, trace.WithAttributes(b.eventAttrs(
			semconv.NATSCircuitStateKey.String(g.state.String()))...))
	}
	return e
}

// record takes the outcome of a call allowed in generation g.
func (b *Breaker) record(g *generation, err error, d time.Duration, span trace.Span) {
	var outcome uint8
	if err != nil && b.classify(err) {
		outcome |= outcomeFailed
	}
	if b.cfg.slowThreshold > 0 && d >= b.cfg.slowThreshold {
		outcome |= outcomeSlow
	}
	var now time.Time
	if b.win.buckets != nil {
		now = b.now()
	}
	var tr transition
	b.mu.Lock()
	if b.gen.Load() != g {
		b.mu.Unlock()
		return
	}
	switch g.state {
	case StateClosed:
		if outcome&outcomeFailed != 0 {
			b.consecutive++
		} else {
			b.consecutive = 0
		}
		total, failed, slow := b.win.add(now, outcome)
		reason := ""
		switch c := &b.cfg; {
		case c.consecutive > 0 && b.consecutive >= c.consecutive:
			reason = reasonConsecutive
		case total < c.minimumCalls:
		case c.failureRate > 0 && float64(failed) >= c.failureRate*float64(total):
			reason = reasonFailureRate
		case c.slowThreshold > 0 && float64(slow) >= c.slowRate*float64(total):
			reason = reasonSlowRate
		}
		if reason != "" {
			tr = b.toLocked(StateOpen, b.nowIf(now), reason)
		}
	case StateHalfOpen:
		b.inFlight--
		switch {
		case outcome&outcomeFailed != 0:
			tr = b.toLocked(StateOpen, b.nowIf(now), reasonProbeFailed)
		case outcome&outcomeSlow != 0:
			tr = b.toLocked(StateOpen, b.nowIf(now), reasonProbeSlow)
		default:
			b.successes++
			if b.successes >= b.cfg.successes {
				tr = b.toLocked(StateClosed, b.nowIf(now), reasonProbesOK)
			}
		}
	}
	b.mu.Unlock()
	b.announce(tr, span)
}

func (b *Breaker) nowIf(now time.Time) time.Time {
	if now.IsZero() {
		return b.now()
	}
	return now
}

// toLocked moves the breaker to state to and returns the transition to
// announce once the lock is released. b.mu must be held.
func (b *Breaker) toLocked(to State, now time.Time, reason string) transition {
	cur := b.gen.Load()
	g := &generation{id: cur.id + 1, state: to}
	switch to {
	case StateOpen:
		g.openUntil = now.Add(b.openTimeoutLocked())
		b.trips++
	case StateHalfOpen:
		b.inFlight, b.successes = 0, 0
		g.done = b.doneFunc(g)
	case StateClosed:
		b.trips, b.consecutive = 0, 0
		b.win.reset()
		g.done = b.doneFunc(g)
	}
	b.gen.Store(g)
	tr := transition{from: cur.state, to: to, reason: reason}
	if len(b.cfg.onStateChange) > 0 {
		b.pending = append(b.pending, tr)
	}
	return tr
}

// openTimeoutLocked is the open timeout of the next trip: the configured one
// grown by the backoff factor once per trip since the breaker last closed.
func (b *Breaker) openTimeoutLocked() time.Duration {
	d := b.cfg.openTimeout
	if b.cfg.backoffFactor <= 1 {
		return d
	}
	f := float64(d)
	for i := 0; i < b.trips; i++ {
		f *= b.cfg.backoffFactor
		if f >= float64(b.cfg.maxOpenTimeout) {
			return b.cfg.maxOpenTimeout
		}
	}
	return time.Duration(f)
}

// announce records a transition (if tr is one) in telemetry and on span, then
// runs the state-change callbacks, all outside the lock.
func (b *Breaker) announce(tr transition, span trace.Span) {
	if tr.from == tr.to {
		return
	}
	b.tel.transition(tr.from, tr.to)
	if span != nil && span.IsRecording() {
		span.AddEvent(semconv.EventCircuitStateChange, trace.WithAttributes(b.eventAttrs(
			semconv.NATSCircuitFromKey.String(tr.from.String()),
			semconv.NATSCircuitToKey.String(tr.to.String()),
			semconv.NATSCircuitReasonKey.String(tr.reason))...))
	}
	b.notify()
}

// notify delivers pending state changes to the callbacks, in order. Only one
// goroutine delivers at a time; a change caused while delivering (for
// example by a callback calling Allow) is picked up by the same loop, so a
// callback may call any method of the breaker without deadlocking.
func (b *Breaker) notify() {
	if len(b.cfg.onStateChange) == 0 {
		return
	}
	b.mu.Lock()
	if b.notifying {
		b.mu.Unlock()
		return
	}
	b.notifying = true
	for len(b.pending) > 0 {
		batch := b.pending
		b.pending = nil
		b.mu.Unlock()
		b.deliver(batch)
		b.mu.Lock()
	}
	b.notifying = false
	b.mu.Unlock()
}

func (b *Breaker) deliver(batch []transition) {
	defer func() {
		// A panicking callback must not leave notifying set forever.
		if r := recover(); r != nil {
			b.mu.Lock()
			b.notifying = false
			b.mu.Unlock()
			panic(r)
		}
	}()
	for _, tr := range batch {
		for _, f := range b.cfg.onStateChange {
			f(b.name, tr.from, tr.to)
		}
	}
}

// State returns the breaker's current state. An open breaker whose open
// timeout has passed is moved to half-open (announcing the change) and
// reported as [StateHalfOpen], without waiting for a call.
func (b *Breaker) State() State {
	g := b.gen.Load()
	if g.state != StateOpen {
		return g.state
	}
	now := b.now()
	if now.Before(g.openUntil) {
		return StateOpen
	}
	b.mu.Lock()
	var tr transition
	if g = b.gen.Load(); g.state == StateOpen && !now.Before(g.openUntil) {
		tr = b.toLocked(StateHalfOpen, now, reasonTimeout)
	}
	s := b.gen.Load().state
	b.mu.Unlock()
	b.announce(tr, nil)
	return s
}

// observedState is the state as it is at now, without changing anything:
// what the gauge reports at collection time.
func (b *Breaker) observedState() State {
	g := b.gen.Load()
	if g.state == StateOpen && !b.now().Before(g.openUntil) {
		return StateHalfOpen
	}
	return g.state
}

// Close unregisters the breaker's nats.client.circuit.state gauge callback.
// The breaker keeps working (its counters still count); Close only releases
// the registration, so a closed breaker no longer appears in collections.
// Close is idempotent and safe for concurrent use; it returns the
// unregistration error, if any.
func (b *Breaker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.tel.close() })
	return b.closeErr
}

// Do runs fn through b: it asks [Breaker.Allow], returns the rejection error
// (wrapping [ErrOpen]) and T's zero value without calling fn when the breaker
// rejects, and otherwise calls fn, reports its error and duration (measured
// with the breaker's clock, and only when slow-call detection is on) to the
// breaker and returns fn's result and error unchanged. If fn panics, the call is reported as a failure (when the
// classifier agrees) and the panic continues. A nil b runs fn directly.
func Do[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	if b == nil {
		return fn(ctx)
	}
	done, err := b.Allow(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	var start time.Time
	if b.cfg.slowThreshold > 0 {
		start = b.now()
	}
	finished := false
	defer func() {
		if !finished {
			done(errPanicked, b.since(start))
		}
	}()
	v, err := fn(ctx)
	finished = true
	done(err, b.since(start))
	return v, err
}

// since is the time elapsed since start on the breaker's clock, or 0 when
// start is zero (slow-call detection off, so Do did not read the clock).
func (b *Breaker) since(start time.Time) time.Duration {
	if start.IsZero() {
		return 0
	}
	return b.now().Sub(start)
}
