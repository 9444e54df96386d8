package scope

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/metrics"
)

// telemetryOptions carries the telemetry options given to [NewPool].
type telemetryOptions struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	prop     propagation.TextMapPropagator
	recorder *metrics.Recorder
	instOpts []instrument.Option
	gateOpts []circuit.GateOption
	noGate   bool
}

// WithTracerProvider sets the TracerProvider for the pool's connect spans
// and its instrumented handles. Default: the global TracerProvider when the
// pool is created. nil is ignored.
func WithTracerProvider(tp trace.TracerProvider) PoolOption {
	return poolOpt{applyFunc: func(o *options) {
		if tp != nil {
			o.telemetry.tp = tp
		}
	}}
}

// WithMeterProvider sets the MeterProvider for the pool's connection
// metrics (nats.client.*), gates and instrumented handles.
// Default: the global MeterProvider when the pool is created. nil is
// ignored.
func WithMeterProvider(mp metric.MeterProvider) PoolOption {
	return poolOpt{applyFunc: func(o *options) {
		if mp != nil {
			o.telemetry.mp = mp
		}
	}}
}

// WithPropagators sets the propagator the instrumented handles inject into
// and extract from message headers. Default: the global propagator. nil is
// ignored.
func WithPropagators(p propagation.TextMapPropagator) PoolOption {
	return poolOpt{applyFunc: func(o *options) {
		if p != nil {
			o.telemetry.prop = p
		}
	}}
}

// WithInstrumentOptions adds instrument options (subject namer, filter,
// error classifier, KV keys, ...) for the handles a pool hands out; they
// apply after the pool's providers and gate.
func WithInstrumentOptions(opts ...instrument.Option) PoolOption {
	return poolOpt{applyFunc: func(o *options) { o.telemetry.instOpts = append(o.telemetry.instOpts, opts...) }}
}

// WithGateOptions configures the gate a pool keeps per connection config
// (circuit.NewGate: the grace before calls fail fast while the connection
// is down, the destination breakers' and the connect breaker's settings;
// the pool's MeterProvider is passed first). Invalid values make [NewPool]
// fail with an error matching circuit.ErrInvalidOption.
func WithGateOptions(opts ...circuit.GateOption) PoolOption {
	return poolOpt{applyFunc: func(o *options) { o.telemetry.gateOpts = append(o.telemetry.gateOpts, opts...) }}
}

// WithoutGate disables the per-connection gate: dials and instrumented
// calls are never gated, exactly as with raw nats.go.
func WithoutGate() PoolOption {
	return poolOpt{applyFunc: func(o *options) { o.telemetry.noGate = true }}
}

// WithRecorder makes the pool report connection metrics to r (share one
// Recorder between pools, or read its Snapshot). Default: a Recorder of the
// pool's own on its MeterProvider. nil is ignored.
func WithRecorder(r *metrics.Recorder) PoolOption {
	return poolOpt{applyFunc: func(o *options) {
		if r != nil {
			o.telemetry.recorder = r
		}
	}}
}

// poolTelemetry wires connection metrics, the gates and the instrumented
// handles into a pool. It is the hook point of the dial path.
type poolTelemetry struct {
	rec      *metrics.Recorder
	mp       metric.MeterProvider
	instOpts []instrument.Option
	gateOpts []circuit.GateOption
	noGate   bool

	mu    sync.Mutex
	gates map[poolKey]*circuit.Gate
	names map[string]int // gate names in use, to keep them unique
}

func newPoolTelemetry(o *telemetryOptions) (*poolTelemetry, error) {
	tp, mp := o.tp, o.mp
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	rec := o.recorder
	if rec == nil {
		rec = metrics.NewRecorder(metrics.WithMeterProvider(mp))
	}
	inst := []instrument.Option{instrument.WithTracerProvider(tp), instrument.WithMeterProvider(mp)}
	if o.prop != nil {
		inst = append(inst, instrument.WithPropagators(o.prop))
	}
	inst = append(inst, o.instOpts...) // WithInstrumentOptions: for the handles only
	t := &poolTelemetry{
		rec:      rec,
		mp:       mp,
		instOpts: inst,
		gateOpts: append([]circuit.GateOption{circuit.WithMeterProvider(mp)}, o.gateOpts...),
		noGate:   o.noGate,
		gates:    make(map[poolKey]*circuit.Gate),
		names:    make(map[string]int),
	}
	if !t.noGate && len(o.gateOpts) > 0 {
		// Reject invalid gate options now rather than at the first dial.
		g, err := circuit.NewGate("scope-options-check", t.gateOpts...)
		if err != nil {
			return nil, err
		}
		_ = g.Close()
	}
	return t, nil
}

// gate returns the gate of a connection config, creating it on first use.
// It outlives the connections of that config, so failed dials accumulate in
// its connect breaker, and each new connection of the config is watched by
// it. nil when disabled.
func (t *poolTelemetry) gate(key poolKey, cfg *Config) (*circuit.Gate, error) {
	if t.noGate {
		return nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if g, ok := t.gates[key]; ok {
		return g, nil
	}
	name := gateName(cfg)
	if n := t.names[name]; n > 0 {
		t.names[name] = n + 1
		name += "#" + strconv.Itoa(n+1)
	} else {
		t.names[name] = 1
	}
	g, err := circuit.NewGate(name, t.gateOpts...)
	if err != nil {
		return nil, err
	}
	t.gates[key] = g
	return g, nil
}

// gateName is "<client name>@<host:port,...>": low-cardinality and free
// of credentials.
func gateName(cfg *Config) string {
	hosts := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			hosts = append(hosts, u.Host)
		}
	}
	name := cfg.ClientName
	if name == "" {
		name = "nats"
	}
	return name + "@" + strings.Join(hosts, ",")
}

// close closes every gate (unregistering their gauges).
func (t *poolTelemetry) close() {
	t.mu.Lock()
	gs := t.gates
	t.gates = make(map[poolKey]*circuit.Gate)
	t.mu.Unlock()
	for _, g := range gs {
		if err := g.Close(); err != nil {
			otel.Handle(err)
		}
	}
}

// natsOptions returns the options appended last to every connect: the
// recorder's connect-time event hooks.
func (t *poolTelemetry) natsOptions(*Config) []nats.Option { return t.rec.ConnOptions() }

// dial runs one connect attempt through instrument's operation pipeline
// (instrument.Connect): the gate's connect breaker, "connect" span, the connect itself,
// messaging.client.operation.duration with operation name connect. Inside
// it, the attempt is timed and counted in the connection metrics
// (nats.client.connect.duration, connections opened/failed) and, on
// success, the connection is observed (active gauge, events, subscription
// metrics) and watched by the gate (its connection-health layer). A
// rejection by an open connect breaker returns an error matching
// circuit.ErrOpen without connecting and is not a connect attempt. g may be
// nil (no gate, or a health check's dial).
func (t *poolTelemetry) dial(ctx context.Context, g *circuit.Gate, cfg *Config,
	connect func() (*nats.Conn, error)) (*nats.Conn, time.Duration, error) {
	var d time.Duration
	nc, err := instrument.Connect(ctx, func(ctx context.Context) (*nats.Conn, error) {
		start := time.Now()
		nc, err := connect()
		d = time.Since(start)
		t.rec.RecordDial(ctx, cfg.ClientName, d, err)
		return nc, err
	}, t.connectOptions(g, cfg)...)
	if err != nil {
		return nil, d, err
	}
	if _, oerr := t.rec.Observe(nc, cfg.ClientName); oerr != nil && !errors.Is(oerr, nats.ErrConnectionClosed) {
		otel.Handle(oerr)
	}
	return nc, d, nil
}

// connectOptions are the instrument options of a connect attempt: the
// pool's providers, the config's gate and client name. The user's
// instrument options (WithInstrumentOptions) are for the handles: a Filter
// there must not take the dial out from behind the gate.
func (t *poolTelemetry) connectOptions(g *circuit.Gate, cfg *Config) []instrument.Option {
	opts := make([]instrument.Option, 0, 4)
	opts = append(opts, t.instOpts[:2]...) // providers
	if g != nil {
		opts = append(opts, instrument.WithGate(g))
	}
	if cfg.ClientName != "" {
		opts = append(opts, instrument.WithConnectionName(cfg.ClientName))
	}
	return opts
}

// handleOptions are the instrument options for one pooled connection.
func (t *poolTelemetry) handleOptions(pc *pooledConn) []instrument.Option {
	opts := make([]instrument.Option, 0, len(t.instOpts)+3)
	opts = append(opts, t.instOpts[:2]...) // providers
	if pc.gate != nil {
		opts = append(opts, instrument.WithGate(pc.gate))
	}
	if pc.cfg.ClientName != "" {
		opts = append(opts, instrument.WithConnectionName(pc.cfg.ClientName))
	}
	opts = append(opts, instrument.WithSubscriptionTracker(t.tracker(pc.nc)))
	return append(opts, t.instOpts[2:]...)
}

// tracker reports the subscriptions made through a pooled connection's
// instrumented handle (nats.client.subscription.pending and .dropped) to the
// metrics.Observer the Recorder keeps for nc, looked up per subscription.
// Nothing is tracked once the connection is no longer observed (closed).
func (t *poolTelemetry) tracker(nc *nats.Conn) func(*nats.Subscription, string) func() {
	return func(sub *nats.Subscription, destination string) func() {
		if ob, ok := t.rec.Observer(nc); ok {
			return ob.Track(sub, destination)
		}
		return nil
	}
}

// wrapJetStream returns the instrumented JetStream handle of a connection.
func (t *poolTelemetry) wrapJetStream(pc *pooledConn, js jetstream.JetStream) jetstream.JetStream {
	return instrument.NewJetStream(js, t.handleOptions(pc)...)
}

// wrapConn returns the instrumented core connection.
func (t *poolTelemetry) wrapConn(pc *pooledConn) *instrument.Conn {
	return instrument.NewConn(pc.nc, t.handleOptions(pc)...)
}
