package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Phase names used in [Report], [PhaseStats].Name and [Progress].Phase.
const (
	// PhaseConnect times each dial.
	PhaseConnect = "connect"
	// PhaseRTT times PING/PONG round trips (nc.RTT).
	PhaseRTT = "rtt"
	// PhasePublish times publish+flush ([WithPublishes]).
	PhasePublish = "publish"
	// PhaseRequest times request-reply round trips ([WithRequests]).
	PhaseRequest = "request"
)

// Measurement defaults.
const (
	// DefaultConnects is the number of dials (the seed's iterations=10).
	DefaultConnects = 10
	// DefaultRoundTrips is the number of PING/PONG round trips.
	DefaultRoundTrips = 10
	// DefaultPayloadSize is the payload size of publish and request phases.
	DefaultPayloadSize = 128
	// DefaultOpTimeout bounds one operation.
	DefaultOpTimeout = 5 * time.Second
)

// errNoConnection is the LastError of phases that could not run because every
// dial failed.
const errNoConnection = "no_connection"

type operation struct {
	name string
	n    int
	fn   func(context.Context, *nats.Conn) error
	// setup runs once on the measurement connection before the phase.
	setup func(context.Context, *nats.Conn) (cleanup func(), err error)
}

// measureConfig is the part of config that a [MeasureOption] sets.
type measureConfig struct {
	connects    int
	roundTrips  int
	publishes   int
	requests    int
	payloadSize int
	subject     string
	opTimeout   time.Duration
	progress    func(Progress)
	recorder    *Recorder
	name        string
	ops         []operation
}

// WithConnects sets how many times [Measure] dials (default
// [DefaultConnects]). Values below 1 become 1: the other phases need a
// connection.
func WithConnects(n int) MeasureOption {
	return forMeasure(func(c *config) { c.connects = max(n, 1) })
}

// WithRoundTrips sets how many round trips (PING/PONG, as nc.RTT) [Measure]
// times on one connection (default [DefaultRoundTrips]; 0 skips the phase,
// negative values become 0).
func WithRoundTrips(n int) MeasureOption {
	return forMeasure(func(c *config) { c.roundTrips = max(n, 0) })
}

// WithPublishes adds to [Measure] a "publish" phase of n publish+flush
// operations to the measurement subject (default 0: no phase; negative
// values become 0).
func WithPublishes(n int) MeasureOption {
	return forMeasure(func(c *config) { c.publishes = max(n, 0) })
}

// WithRequests adds a "request" phase of n request-reply round trips to a
// responder that [Measure] runs on the measurement connection for the
// duration of the phase (default 0: no phase; negative values become 0).
func WithRequests(n int) MeasureOption {
	return forMeasure(func(c *config) { c.requests = max(n, 0) })
}

// WithPayloadSize sets the payload size in bytes of the publish and request
// operations of [Measure] (default [DefaultPayloadSize]; negative values
// become 0). The payload is zero bytes, never user data.
func WithPayloadSize(n int) MeasureOption {
	return forMeasure(func(c *config) { c.payloadSize = max(n, 0) })
}

// WithSubject sets the subject of the publish and request operations of
// [Measure] (the request phase uses subject+".req"). The default is a unique
// subject under "_naq.perf.". An empty subject is ignored.
func WithSubject(subject string) MeasureOption {
	return forMeasure(func(c *config) {
		if subject != "" {
			c.subject = subject
		}
	})
}

// WithOpTimeout bounds each single operation of [Measure] (dial excepted:
// the dial function owns its timeout) (default [DefaultOpTimeout]; values
// <= 0 are ignored).
func WithOpTimeout(d time.Duration) MeasureOption {
	return forMeasure(func(c *config) {
		if d > 0 {
			c.opTimeout = d
		}
	})
}

// WithProgress sets a callback [Measure] calls synchronously after every
// operation, e.g. to drive a progress bar. It must not block for long. A nil
// fn is ignored.
func WithProgress(fn func(Progress)) MeasureOption {
	return forMeasure(func(c *config) {
		if fn != nil {
			c.progress = fn
		}
	})
}

// WithRecorder makes [Measure] dial through r.Dial with the given connection
// name, so the measurement's connects also show up in r's metrics and
// [Recorder.Snapshot]. A nil r is ignored.
func WithRecorder(r *Recorder, name string) MeasureOption {
	return forMeasure(func(c *config) {
		if r != nil {
			c.recorder, c.name = r, name
		}
	})
}

// WithOperation adds to [Measure] a custom phase named name of n calls to fn
// on the measurement connection (for example a JetStream publish or a KV
// get), run after the built-in phases in the order added. Each call gets a context
// bounded by the operation timeout. A nil fn or n <= 0 is ignored.
func WithOperation(name string, n int, fn func(ctx context.Context, nc *nats.Conn) error) MeasureOption {
	return forMeasure(func(c *config) {
		if fn != nil && n > 0 {
			c.ops = append(c.ops, operation{name: name, n: n, fn: fn})
		}
	})
}

// Progress reports how far [Measure] has come.
type Progress struct {
	// Phase is the running phase ([PhaseConnect], [PhaseRTT], ... or a
	// custom operation name).
	Phase string
	// Done and Total count operations within Phase.
	Done, Total int
	// Step and Steps count operations over the whole measurement.
	Step, Steps int
}

// PhaseStats summarises the latencies of one phase. Percentiles use the
// nearest-rank method over successful operations, so
// Min <= P50 <= P90 <= P99 <= Max; all durations are zero when no operation
// succeeded.
//
// JSON field names (durations in seconds, as floats): name, attempts,
// successes, failures, success_rate, avg, min, max, p50, p90, p99,
// last_error (error.type only, omitted when empty).
type PhaseStats struct {
	// Name is the phase name ([PhaseConnect], ... or a custom name).
	Name string
	// Attempts = Successes + Failures.
	Attempts, Successes, Failures int
	// SuccessRate = Successes/Attempts (1 when there were no attempts).
	SuccessRate float64
	// Avg, Min and Max summarise the successful operations.
	Avg, Min, Max time.Duration
	// P50, P90 and P99 are nearest-rank percentiles.
	P50, P90, P99 time.Duration
	// LastError is the error.type ([ErrorType]) of the last failure, or
	// "no_connection" when the phase could not run; "" when none failed.
	LastError string
}

type phaseStatsJSON struct {
	Name        string  `json:"name"`
	Attempts    int     `json:"attempts"`
	Successes   int     `json:"successes"`
	Failures    int     `json:"failures"`
	SuccessRate float64 `json:"success_rate"`
	Avg         float64 `json:"avg"`
	Min         float64 `json:"min"`
	Max         float64 `json:"max"`
	P50         float64 `json:"p50"`
	P90         float64 `json:"p90"`
	P99         float64 `json:"p99"`
	LastError   string  `json:"last_error,omitempty"`
}

// MarshalJSON encodes the phase with the field names documented on
// [PhaseStats].
func (p PhaseStats) MarshalJSON() ([]byte, error) {
	return json.Marshal(phaseStatsJSON{
		Name: p.Name, Attempts: p.Attempts, Successes: p.Successes, Failures: p.Failures,
		SuccessRate: p.SuccessRate,
		Avg:         p.Avg.Seconds(), Min: p.Min.Seconds(), Max: p.Max.Seconds(),
		P50: p.P50.Seconds(), P90: p.P90.Seconds(), P99: p.P99.Seconds(),
		LastError: p.LastError,
	})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (p *PhaseStats) UnmarshalJSON(b []byte) error {
	var j phaseStatsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = PhaseStats{
		Name: j.Name, Attempts: j.Attempts, Successes: j.Successes, Failures: j.Failures,
		SuccessRate: j.SuccessRate,
		Avg:         seconds(j.Avg), Min: seconds(j.Min), Max: seconds(j.Max),
		P50: seconds(j.P50), P90: seconds(j.P90), P99: seconds(j.P99),
		LastError: j.LastError,
	}
	return nil
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// Report is the result of [Measure]: the Go form of the seed's
// measure_connection_performance (average_time, min_time, max_time and
// success_rate are Connect.Avg, Connect.Min, Connect.Max and SuccessRate).
//
// JSON field names: started (RFC 3339), elapsed (seconds), attempts,
// successes, success_rate, connect, rtt (omitted when the phase did not run),
// ops (publish, request and custom phases, omitted when none); each phase
// as documented on [PhaseStats].
type Report struct {
	// Started is when the measurement began.
	Started time.Time
	// Elapsed is the measurement's wall time.
	Elapsed time.Duration
	// Attempts and Successes count operations over all phases.
	Attempts, Successes int
	// SuccessRate = Successes/Attempts (1 when there were no attempts).
	SuccessRate float64
	// Connect times each dial.
	Connect PhaseStats
	// RTT times each PING/PONG round trip; Attempts is 0 when skipped.
	RTT PhaseStats
	// Ops holds the publish, request and custom phases, in that order.
	Ops []PhaseStats
}

type reportJSON struct {
	Started     time.Time    `json:"started"`
	Elapsed     float64      `json:"elapsed"`
	Attempts    int          `json:"attempts"`
	Successes   int          `json:"successes"`
	SuccessRate float64      `json:"success_rate"`
	Connect     PhaseStats   `json:"connect"`
	RTT         *PhaseStats  `json:"rtt,omitempty"`
	Ops         []PhaseStats `json:"ops,omitempty"`
}

// MarshalJSON encodes the report with the field names documented on
// [Report].
func (r Report) MarshalJSON() ([]byte, error) {
	j := reportJSON{
		Started: r.Started, Elapsed: r.Elapsed.Seconds(),
		Attempts: r.Attempts, Successes: r.Successes, SuccessRate: r.SuccessRate,
		Connect: r.Connect, Ops: r.Ops,
	}
	if r.RTT.Attempts > 0 {
		rtt := r.RTT
		j.RTT = &rtt
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j reportJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Report{
		Started: j.Started, Elapsed: seconds(j.Elapsed),
		Attempts: j.Attempts, Successes: j.Successes, SuccessRate: j.SuccessRate,
		Connect: j.Connect, Ops: j.Ops,
	}
	if j.RTT != nil {
		r.RTT = *j.RTT
	}
	return nil
}

// Phases returns every phase that ran, in order: connect, rtt, then Ops.
func (r *Report) Phases() []PhaseStats {
	out := []PhaseStats{r.Connect}
	if r.RTT.Attempts > 0 {
		out = append(out, r.RTT)
	}
	return append(out, r.Ops...)
}

// Measure times a NATS deployment: it dials N times (each connection is
// closed right away, except the last successful one), then on that one
// connection times M round trips and the optional publish, request and
// custom operation phases. See [MeasureOption] for the knobs and defaults.
//
// Measure stops early when ctx ends and then returns the partial report with
// ctx's error; failed operations are counted, not returned. If every dial
// fails, the later phases count all their operations as failed with
// LastError "no_connection". It returns [ErrNilDial] for a nil dial.
func Measure(ctx context.Context, dial func(context.Context) (*nats.Conn, error), opts ...MeasureOption) (*Report, error) {
	if dial == nil {
		return nil, ErrNilDial
	}
	all := config{measureConfig: measureConfig{
		connects:    DefaultConnects,
		roundTrips:  DefaultRoundTrips,
		payloadSize: DefaultPayloadSize,
		opTimeout:   DefaultOpTimeout,
	}}
	for _, o := range opts {
		if o != nil {
			o.apply(&all)
		}
	}
	cfg := all.measureConfig
	if cfg.subject == "" {
		cfg.subject = "_naq.perf." + strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)
	}
	m := &measurement{cfg: cfg, rep: &Report{Started: time.Now()}}
	m.steps = cfg.connects + cfg.roundTrips
	for _, op := range m.phaseOps() {
		m.steps += op.n
	}
	err := m.run(ctx, dial)
	m.rep.Elapsed = time.Since(m.rep.Started)
	m.rep.SuccessRate = rate(m.rep.Successes, m.rep.Attempts)
	return m.rep, err
}

type measurement struct {
	cfg   measureConfig
	rep   *Report
	step  int
	steps int
}

// phaseOps returns the operation phases after rtt: publish, request, custom.
func (m *measurement) phaseOps() []operation {
	cfg := m.cfg
	payload := make([]byte, cfg.payloadSize)
	var ops []operation
	if cfg.publishes > 0 {
		ops = append(ops, operation{name: PhasePublish, n: cfg.publishes,
			fn: func(ctx context.Context, nc *nats.Conn) error {
				if err := nc.Publish(cfg.subject, payload); err != nil {
					return err
				}
				return nc.FlushWithContext(ctx)
			}})
	}
	if cfg.requests > 0 {
		subj := cfg.subject + ".req"
		ops = append(ops, operation{name: PhaseRequest, n: cfg.requests,
			setup: func(ctx context.Context, nc *nats.Conn) (func(), error) {
				sub, err := nc.Subscribe(subj, func(msg *nats.Msg) { _ = msg.Respond(msg.Data) })
				if err != nil {
					return nil, err
				}
				if err := nc.FlushWithContext(ctx); err != nil {
					_ = sub.Unsubscribe()
					return nil, err
				}
				return func() { _ = sub.Unsubscribe() }, nil
			},
			fn: func(ctx context.Context, nc *nats.Conn) error {
				_, err := nc.RequestWithContext(ctx, subj, payload)
				return err
			}})
	}
	return append(ops, cfg.ops...)
}

func (m *measurement) run(ctx context.Context, dial func(context.Context) (*nats.Conn, error)) error {
	cfg := m.cfg
	if cfg.recorder != nil {
		rec, name := cfg.recorder, cfg.name
		plain := dial
		dial = func(ctx context.Context) (*nats.Conn, error) { return rec.Dial(ctx, name, plain) }
	}

	// Connect phase.
	var keep *nats.Conn
	defer func() {
		if keep != nil {
			keep.Close()
		}
	}()
	ph := newPhase(PhaseConnect, cfg.connects)
	for i := 0; i < cfg.connects; i++ {
		if err := ctx.Err(); err != nil {
			m.finish(&m.rep.Connect, ph)
			return err
		}
		nc, d, err := timedDial(ctx, dial)
		if err != nil {
			ph.fail(ErrorType(err))
		} else {
			ph.ok(d)
			if keep != nil {
				keep.Close()
			}
			keep = nc
		}
		m.progress(PhaseConnect, i+1, cfg.connects)
	}
	m.finish(&m.rep.Connect, ph)

	// RTT phase.
	if cfg.roundTrips > 0 {
		ph := newPhase(PhaseRTT, cfg.roundTrips)
		err := m.runOp(ctx, keep, ph, operation{name: PhaseRTT, n: cfg.roundTrips,
			fn: func(ctx context.Context, nc *nats.Conn) error { return nc.FlushWithContext(ctx) }})
		m.finish(&m.rep.RTT, ph)
		if err != nil {
			return err
		}
	}

	// Operation phases.
	for _, op := range m.phaseOps() {
		ph := newPhase(op.name, op.n)
		err := m.runOp(ctx, keep, ph, op)
		var st PhaseStats
		m.finish(&st, ph)
		m.rep.Ops = append(m.rep.Ops, st)
		if err != nil {
			return err
		}
	}
	return nil
}

// runOp runs one phase; it returns only ctx's error.
func (m *measurement) runOp(ctx context.Context, nc *nats.Conn, ph *phase, op operation) error {
	if nc == nil {
		for i := 0; i < op.n; i++ {
			ph.fail(errNoConnection)
			m.progress(op.name, i+1, op.n)
		}
		return nil
	}
	if op.setup != nil {
		sctx, cancel := context.WithTimeout(ctx, m.cfg.opTimeout)
		cleanup, err := op.setup(sctx, nc)
		cancel()
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			for i := 0; i < op.n; i++ {
				ph.fail(ErrorType(err))
				m.progress(op.name, i+1, op.n)
			}
			return nil
		}
		defer cleanup()
	}
	for i := 0; i < op.n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		octx, cancel := context.WithTimeout(ctx, m.cfg.opTimeout)
		start := time.Now()
		err := op.fn(octx, nc)
		d := time.Since(start)
		cancel()
		if err != nil {
			if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
				return cerr
			}
			ph.fail(ErrorType(err))
		} else {
			ph.ok(d)
		}
		m.progress(op.name, i+1, op.n)
	}
	return nil
}

func (m *measurement) progress(phase string, done, total int) {
	m.step++
	if m.cfg.progress != nil {
		m.cfg.progress(Progress{Phase: phase, Done: done, Total: total, Step: m.step, Steps: m.steps})
	}
}

func (m *measurement) finish(dst *PhaseStats, ph *phase) {
	*dst = ph.stats()
	m.rep.Attempts += dst.Attempts
	m.rep.Successes += dst.Successes
}

// phase accumulates one phase's outcomes.
type phase struct {
	name     string
	attempts int
	failures int
	lastErr  string
	ds       []time.Duration
}

func newPhase(name string, n int) *phase {
	return &phase{name: name, ds: make([]time.Duration, 0, n)}
}

func (p *phase) ok(d time.Duration) { p.attempts++; p.ds = append(p.ds, d) }

func (p *phase) fail(errType string) { p.attempts++; p.failures++; p.lastErr = errType }

func (p *phase) stats() PhaseStats {
	s := PhaseStats{
		Name: p.name, Attempts: p.attempts, Successes: len(p.ds), Failures: p.failures,
		SuccessRate: rate(len(p.ds), p.attempts), LastError: p.lastErr,
	}
	if len(p.ds) == 0 {
		return s
	}
	ds := slices.Clone(p.ds)
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	s.Avg = sum / time.Duration(len(ds))
	s.Min, s.Max = ds[0], ds[len(ds)-1]
	s.P50, s.P90, s.P99 = percentile(ds, 50), percentile(ds, 90), percentile(ds, 99)
	return s
}

// percentile is the nearest-rank percentile of sorted, non-empty ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	rank = min(max(rank, 1), len(ds))
	return ds[rank-1]
}

func rate(ok, n int) float64 {
	if n == 0 {
		return 1
	}
	return float64(ok) / float64(n)
}
