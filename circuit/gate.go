package circuit

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/connevents"
	"github.com/naq-io/naq/internal/semconv"
)

// Policy says which layers of a [Gate] guard the calls of a destination.
type Policy uint8

const (
	// PolicyRequest guards calls that wait for an answer (core requests,
	// JetStream publishes and API calls, KeyValue and ObjectStore calls):
	// they fail fast while the connection is down, and the destination's
	// breaker counts their timeouts and server errors (and, when slow-call
	// detection is on, slow calls).
	PolicyRequest Policy = iota + 1
	// PolicyDial guards connect attempts: only the gate's connect breaker,
	// which counts every failed dial but a caller's mistake; connection
	// health does not apply (there is no connection yet).
	PolicyDial
)

// Defaults of a [Gate].
const (
	// DefaultGrace is how long the connection may be down before calls
	// that wait for an answer fail fast.
	DefaultGrace = 250 * time.Millisecond
	// DefaultMaxDestinations caps the destination breakers of a gate;
	// calls to further destinations are guarded by connection health only.
	DefaultMaxDestinations = 256
)

// DestinationDefaults are the settings every destination breaker of a
// [Gate] starts from, before [WithDestinationOptions]: it opens when at
// least half of at least 20 calls in the last 10 s failed
// ([DestinationClassifier]: timeouts and server errors only), stays open 1 s
// at first and twice as long on each trip that follows (up to 30 s), then
// lets up to 3 probes through (each may take up to 10 s) and closes after 2
// succeed. Slow-call detection is off: turn it on with [WithSlowCalls] in
// WithDestinationOptions.
func DestinationDefaults() []Option {
	return []Option{
		WithConsecutiveFailures(0),
		WithFailureRate(0.5, 20),
		WithTimeWindow(10 * time.Second),
		WithOpenTimeout(time.Second),
		WithOpenBackoff(2, 30*time.Second),
		WithHalfOpen(3, 2),
		WithProbeTimeout(10 * time.Second),
		WithClassifier(DestinationClassifier),
	}
}

// DialDefaults are the settings the connect breaker of a [Gate] starts
// from, before [WithDialOptions]: it opens after 5 failed dials in a row
// ([DefaultClassifier]; no failure-rate condition), stays open 1 s at first
// and twice as long on each trip that follows (up to 10 s), and closes after
// one successful dial.
func DialDefaults() []Option {
	return []Option{
		WithConsecutiveFailures(5),
		WithoutFailureRate(),
		WithOpenTimeout(time.Second),
		WithOpenBackoff(2, 10*time.Second),
		WithProbeTimeout(time.Minute),
	}
}

// GateOption configures a [Gate]. [WithMeterProvider] is both an [Option]
// and a GateOption.
type GateOption interface {
	applyGate(*gateConfig)
}

type gateOptionFunc func(*gateConfig)

func (f gateOptionFunc) applyGate(c *gateConfig) { f(c) }

type gateConfig struct {
	grace    time.Duration
	maxDest  int
	dest     []Option
	dial     []Option
	mp       metric.MeterProvider
	now      func() time.Time
	onChange []func(gate, destination string, from, to State)
}

// WithGrace sets how long the connection may be down before calls that
// wait for an answer fail fast: short blips pass unnoticed, while a real
// outage turns timeouts into immediate errors. d must not be negative; 0
// fails calls fast from the first disconnect event. Default [DefaultGrace].
func WithGrace(d time.Duration) GateOption {
	return gateOptionFunc(func(c *gateConfig) { c.grace = d })
}

// WithMaxDestinations caps the number of destination breakers (n >= 1).
// Calls to destinations beyond the cap are guarded by connection health
// only. Default [DefaultMaxDestinations].
func WithMaxDestinations(n int) GateOption {
	return gateOptionFunc(func(c *gateConfig) { c.maxDest = n })
}

// WithDestinationOptions adds settings for every destination breaker,
// applied after [DestinationDefaults] (so they win). Invalid values make
// [NewGate] fail.
func WithDestinationOptions(opts ...Option) GateOption {
	return gateOptionFunc(func(c *gateConfig) { c.dest = append(c.dest, opts...) })
}

// WithOnGateStateChange adds a function called after every state change of
// the gate's connection-health layer (destination "connection"), its
// connect breaker ("connect") and its destination breakers, with the gate's
// name, the destination and the old and new state. Like the callbacks of
// [WithOnStateChange], it runs after the gate's and the breaker's locks are
// released, on the goroutine that caused the change (for the connection
// layer: nats.go's callback goroutine or the grace timer's); it must not
// block. A nil f is ignored.
func WithOnGateStateChange(f func(gate, destination string, from, to State)) GateOption {
	return gateOptionFunc(func(c *gateConfig) {
		if f != nil {
			c.onChange = append(c.onChange, f)
		}
	})
}

// WithDialOptions adds settings for the connect breaker, applied after
// [DialDefaults]. Invalid values make [NewGate] fail.
func WithDialOptions(opts ...Option) GateOption {
	return gateOptionFunc(func(c *gateConfig) { c.dial = append(c.dial, opts...) })
}

// Gate guards the calls of one NATS connection in two layers, so that one
// destination's trouble never touches another and a real outage is seen
// at once:
//
//   - Connection health, driven by the connection's own status events
//     ([Gate.Watch]): when the connection has been disconnected for longer
//     than the grace ([WithGrace]), calls that could only wait for a
//     timeout ([PolicyRequest]) fail fast with an
//     [*OpenError] (errors.Is(err, [ErrOpen]); Down says for how long). On
//     reconnect they pass at once. Core publishes are never gated: nats.go
//     buffers them while it reconnects. A closed connection is not gated
//     either: nats.go fails its calls at once with
//     nats.ErrConnectionClosed.
//   - Destination breakers, one [Breaker] per operation family and
//     destination template ([Gate.Guard]), created on first use, up to
//     [WithMaxDestinations]. They trip on the failure rate (and, when
//     configured, the slow-call rate) of their own destination only, and
//     count only what a breaker can help with ([DestinationClassifier]).
//
// A third kind of breaker guards connect attempts ([PolicyDial]); it
// outlives the connections, so failed dials accumulate across them.
//
// Telemetry (on the MeterProvider of [WithMeterProvider]): the breaker
// metrics of every destination breaker, with nats.circuit.name = the gate's
// name and nats.circuit.destination = the destination; the connection-health
// layer reports on the same instruments with destination "connection"
// (state open while calls fail fast). One gauge callback observes them all;
// [Gate.Close] unregisters it.
//
// A Gate is safe for concurrent use. It starts no goroutine of its own
// (the grace is a runtime timer); its lock is never held while it calls
// nats.go, a callback or the OpenTelemetry SDK.
type Gate struct {
	name string
	cfg  gateConfig
	in   instruments

	destOpts []Option // DestinationDefaults + WithDestinationOptions + own

	watched atomic.Pointer[nats.Conn]
	down    atomic.Bool  // past the grace: PolicyRequest calls fail fast
	since   atomic.Int64 // unix nanos of the disconnect; 0 when connected
	connTel *telemetry   // the connection-health layer's attribute sets

	hmu   sync.Mutex // guards timer and epoch
	timer *time.Timer
	epoch uint64

	dial *Breaker

	mu     sync.Mutex
	guards map[string]*Guard // "<family> <destination>" → guard
	nDest  int               // guards holding a breaker

	reg       metric.Registration
	closeOnce sync.Once
	closeErr  error
}

// NewGate returns a gate named name (the nats.circuit.name of its
// telemetry and the Name of its errors; it must not be empty), with the
// connection taken as up until [Gate.Watch] says otherwise. It returns an
// error wrapping [ErrInvalidOption] when a setting is out of range; the
// destination and dial breaker settings are validated here too.
func NewGate(name string, opts ...GateOption) (*Gate, error) {
	if name == "" {
		return nil, invalid("gate name", `""`, "a non-empty name")
	}
	cfg := gateConfig{grace: DefaultGrace, maxDest: DefaultMaxDestinations, now: time.Now}
	for _, o := range opts {
		if o != nil {
			o.applyGate(&cfg)
		}
	}
	switch {
	case cfg.grace < 0:
		return nil, invalid("grace", cfg.grace, ">= 0")
	case cfg.maxDest < 1:
		return nil, invalid("max destinations", cfg.maxDest, ">= 1")
	}
	g := &Gate{name: name, cfg: cfg, guards: make(map[string]*Guard)}
	shared := []Option{WithMeterProvider(cfg.mp), withClock(cfg.now), optionFunc(func(c *config) { c.noGauge = true })}
	g.destOpts = append(append(DestinationDefaults(), cfg.dest...), shared...)
	// Validate the destination settings once, now, rather than at the
	// first call.
	if _, err := g.newBreaker("validate", g.destOpts); err != nil {
		return nil, err
	}
	dial, err := g.newBreaker(semconv.CircuitConnect, append(append(DialDefaults(), cfg.dial...), shared...))
	if err != nil {
		return nil, err
	}
	g.dial = dial
	g.in = newInstruments(cfg.mp)
	g.connTel = newTelemetry(g.in, name, semconv.CircuitConnection, nil, false)
	if g.in.state != nil {
		g.reg, err = g.in.meter.RegisterCallback(g.observe, g.in.state)
		if err != nil {
			otel.Handle(err)
		}
	}
	return g, nil
}

func (g *Gate) newBreaker(dest string, opts []Option) (*Breaker, error) {
	opts = append(opts[:len(opts):len(opts)], optionFunc(func(c *config) { c.destination = dest }))
	if len(g.cfg.onChange) > 0 {
		opts = append(opts, WithOnStateChange(func(name string, from, to State) { g.changed(dest, from, to) }))
	}
	return New(g.name, opts...)
}

// changed runs the WithOnGateStateChange callbacks; never under a lock.
func (g *Gate) changed(dest string, from, to State) {
	for _, f := range g.cfg.onChange {
		f(g.name, dest, from, to)
	}
}

// Name returns the gate's name.
func (g *Gate) Name() string { return g.name }

// Guard returns the guard of the calls of one operation family to one
// destination (a subject template, a stream, bucket or consumer name),
// creating its breaker on first use. family and destination together name
// the breaker ("request svc.echo"): pass the same family for every
// operation that shares a fate (every KeyValue call on a bucket is family
// "kv"). destination must be low-cardinality (a template, never a raw
// subject with ids). The same arguments return the same guard. A nil Gate
// returns a nil Guard, which lets every call through. Guard is meant to be
// called when an operation is declared, not on every call.
func (g *Gate) Guard(family, destination string, p Policy) *Guard {
	if g == nil {
		return nil
	}
	if p == PolicyDial {
		return &Guard{g: g, policy: p, dest: semconv.CircuitConnect, b: g.dial}
	}
	key := family
	if destination != "" {
		key += " " + destination
	}
	g.mu.Lock()
	gd, ok := g.guards[key]
	full := g.nDest >= g.cfg.maxDest
	g.mu.Unlock()
	if ok {
		return gd
	}
	gd = &Guard{g: g, policy: p, dest: key}
	if !full {
		b, err := g.newBreaker(key, g.destOpts) // validated in NewGate
		if err != nil {
			otel.Handle(err)
		} else {
			gd.b = b
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev, ok := g.guards[key]; ok {
		return prev // lost a race; the unused breaker registered nothing
	}
	if gd.b != nil {
		if g.nDest >= g.cfg.maxDest {
			gd.b = nil
		} else {
			g.nDest++
		}
	}
	g.guards[key] = gd
	return gd
}

// Guard guards the calls of one destination of a [Gate]; see [Gate.Guard].
// A nil Guard lets every call through. Safe for concurrent use.
type Guard struct {
	g      *Gate
	policy Policy
	dest   string
	b      *Breaker // nil: beyond the gate's cap, connection health only
}

// Destination returns the destination the guard reports
// ("request svc.echo", "connect").
func (gd *Guard) Destination() string {
	if gd == nil {
		return ""
	}
	return gd.dest
}

// Allow asks the gate whether a call may go ahead, like [Breaker.Allow]:
// when err is nil the caller runs the call and then calls done exactly
// once with its error and duration; when err is not nil (an [*OpenError])
// the call must not be made and done need not be called. ctx carries the
// call's span, which gets the rejection and state-change events.
//
// Allow reads two atomics when the connection is up and the destination's
// breaker is closed, and allocates nothing unless the span is recording.
func (gd *Guard) Allow(ctx context.Context) (done func(err error, d time.Duration), err error) {
	if gd == nil {
		return noopDone, nil
	}
	if gd.policy != PolicyDial && gd.g.down.Load() {
		return noopDone, gd.g.rejectDown(ctx, gd.dest)
	}
	if gd.b == nil {
		return noopDone, nil
	}
	return gd.b.Allow(ctx)
}

// Dial returns the guard of connect attempts (the gate's connect breaker).
func (g *Gate) Dial() *Guard { return g.Guard("", "", PolicyDial) }

// rejectDown builds the error of a call refused while the connection is
// down, and records the rejection.
func (g *Gate) rejectDown(ctx context.Context, dest string) error {
	var down time.Duration
	if since := g.since.Load(); since != 0 {
		down = g.cfg.now().Sub(time.Unix(0, since))
	}
	if down <= 0 {
		down = time.Nanosecond
	}
	g.connTel.rejected(ctx, StateOpen)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(semconv.EventCircuitRejected, trace.WithAttributes(
			semconv.NATSCircuitNameKey.String(g.name),
			semconv.NATSCircuitDestinationKey.String(semconv.CircuitConnection),
			semconv.NATSCircuitStateKey.String(StateOpen.String())))
	}
	return &OpenError{Name: g.name, Destination: dest, State: StateOpen, Down: down}
}

// Watch makes nc the connection whose status events drive the gate's
// connection-health layer: it chains the disconnect, reconnect and closed
// handlers set on nc now (the user's handlers still run, after the gate's)
// and takes nc's current status. Watching a new connection (a pool that
// dials again with the same gate) replaces the old one: events of the old
// connection are ignored from then on. Watching the connection already
// watched does nothing, so every wrapper given the gate may call it (the
// instrument wrappers do). Handlers set on nc after Watch replace the
// chain; set them before. A nil nc is ignored.
func (g *Gate) Watch(nc *nats.Conn) {
	if nc == nil || g.watched.Swap(nc) == nc {
		return
	}
	connevents.Chain(nc, connevents.Handlers{
		Disconnected: func(c *nats.Conn, _ error) {
			if g.watched.Load() == c {
				g.disconnected()
			}
		},
		Reconnected: func(c *nats.Conn) {
			if g.watched.Load() == c {
				g.connected()
			}
		},
		Closed: func(c *nats.Conn) {
			if g.watched.Load() == c {
				g.connected() // nats.go fails calls on a closed connection at once
			}
		},
	})
	switch nc.Status() {
	case nats.RECONNECTING, nats.DISCONNECTED:
		g.disconnected()
	default:
		g.connected()
	}
}

// disconnected starts the grace; when it ends with no reconnect in
// between, calls that wait for an answer fail fast.
func (g *Gate) disconnected() {
	g.hmu.Lock()
	if g.since.Load() != 0 {
		g.hmu.Unlock()
		return // already down
	}
	g.epoch++
	epoch := g.epoch
	g.since.Store(g.cfg.now().UnixNano())
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if g.cfg.grace > 0 {
		g.timer = time.AfterFunc(g.cfg.grace, func() { g.graceOver(epoch) })
		g.hmu.Unlock()
		return
	}
	g.hmu.Unlock()
	g.graceOver(epoch)
}

func (g *Gate) graceOver(epoch uint64) {
	g.hmu.Lock()
	open := g.epoch == epoch && g.since.Load() != 0 && !g.down.Load()
	if open {
		g.down.Store(true)
	}
	g.hmu.Unlock()
	if open {
		g.connTel.transition(StateClosed, StateOpen)
		g.changed(semconv.CircuitConnection, StateClosed, StateOpen)
	}
}

// connected ends an outage (or the grace before it).
func (g *Gate) connected() {
	g.hmu.Lock()
	g.epoch++
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.since.Store(0)
	wasDown := g.down.Swap(false)
	g.hmu.Unlock()
	if wasDown {
		g.connTel.transition(StateOpen, StateClosed)
		g.changed(semconv.CircuitConnection, StateOpen, StateClosed)
	}
}

// observe is the gauge callback: the connection layer and every
// destination breaker. It copies the breakers under the lock and reads
// their state (atomics) after releasing it.
func (g *Gate) observe(_ context.Context, o metric.Observer) error {
	conn := StateClosed
	if g.down.Load() {
		conn = StateOpen
	}
	g.connTel.observe(o, g.in.state, conn)
	g.dial.tel.observe(o, g.in.state, g.dial.observedState())
	for _, b := range g.breakers() {
		b.tel.observe(o, g.in.state, b.observedState())
	}
	return nil
}

func (g *Gate) breakers() []*Breaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	bs := make([]*Breaker, 0, g.nDest)
	for _, gd := range g.guards {
		if gd.b != nil {
			bs = append(bs, gd.b)
		}
	}
	return bs
}

// GateState is what a [Gate] knows at one moment, for readiness checks and
// health reports.
type GateState struct {
	// Connection is [StateOpen] while calls fail fast because the
	// connection has been down for longer than the grace, else
	// [StateClosed].
	Connection State
	// Down is how long the connection has been disconnected (zero when it
	// is connected), grace included.
	Down time.Duration
	// Dial is the state of the connect breaker.
	Dial State
	// Destinations lists the destinations whose breaker is not closed,
	// sorted by destination.
	Destinations []DestinationState
}

// DestinationState is the state of one destination breaker.
type DestinationState struct {
	// Destination is what the breaker guards ("request svc.echo").
	Destination string
	// State is the breaker's state, never [StateClosed] in a [GateState].
	State State
}

// State returns the gate's current state. Like [Breaker.State], it moves
// an open breaker whose open timeout has passed to half-open.
func (g *Gate) State() GateState {
	st := GateState{Connection: StateClosed, Dial: g.dial.State()}
	if g.down.Load() {
		st.Connection = StateOpen
	}
	if since := g.since.Load(); since != 0 {
		st.Down = max(g.cfg.now().Sub(time.Unix(0, since)), 0)
	}
	for _, b := range g.breakers() {
		if s := b.State(); s != StateClosed {
			st.Destinations = append(st.Destinations, DestinationState{Destination: b.cfg.destination, State: s})
		}
	}
	sort.Slice(st.Destinations, func(i, j int) bool {
		return st.Destinations[i].Destination < st.Destinations[j].Destination
	})
	return st
}

// Close unregisters the gate's gauge callback and stops its grace timer.
// The gate keeps working; Close only releases the registration. Close is
// idempotent and returns the unregistration error, if any.
func (g *Gate) Close() error {
	g.closeOnce.Do(func() {
		g.hmu.Lock()
		if g.timer != nil {
			g.timer.Stop()
			g.timer = nil
		}
		g.hmu.Unlock()
		if g.reg != nil {
			g.closeErr = g.reg.Unregister()
		}
	})
	return g.closeErr
}

// DestinationClassifier is the [Classifier] of a [Gate]'s destination
// breakers. It counts as failures only what a breaker can help with: calls
// that waited for their deadline (the caller's context deadline, nats.go's
// timeout, a missed heartbeat) and failures the server reports as its own
// (JetStream API errors with a 5xx code, JetStream unavailable, server
// shutdown), and calls that panicked.
//
// Not failures: caller mistakes and choices (invalid subjects, names, keys
// and payload sizes, 4xx JetStream API errors, the caller's cancellation),
// expected misses, no responders (the server answers at once that nobody
// listens: the call already fails fast, and during a JetStream leader
// election it clears by itself within seconds), and connection errors
// (the connection-health layer's business).
func DestinationClassifier(err error) bool {
	switch semconv.Classify(err) {
	case semconv.ClassTimeout, semconv.ClassServer, semconv.ClassPanic:
		return true
	}
	return false
}
