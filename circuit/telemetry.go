package circuit

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/internal/version"
)

// ScopeName is the instrumentation scope name of every naq tracer and meter
// (the module path, the same in every naq package), the breaker's meter
// included.
const ScopeName = version.ScopeName

// Version is the version of the circuit package.
const Version = version.Version

var states = [...]State{StateClosed, StateHalfOpen, StateOpen}

// telemetry holds a breaker's instruments and its precomputed attribute
// sets, built once in New so recording allocates nothing.
type telemetry struct {
	transitions metric.Int64Counter
	rejects     metric.Int64Counter
	reg         metric.Registration // nil: no gauge of its own

	// Option slices are built once: passing a fresh variadic slice through
	// the API's interfaces would allocate on every call.
	stateOpts      [len(states)][]metric.ObserveOption
	transitionOpts [len(states)][len(states)][]metric.AddOption
	rejectOpts     [len(states)][]metric.AddOption
}

var noopMeter = noop.NewMeterProvider().Meter(ScopeName)

// instruments are the breaker instruments of one MeterProvider.
type instruments struct {
	transitions metric.Int64Counter
	rejects     metric.Int64Counter
	state       metric.Int64ObservableGauge // nil when it could not be created
	meter       metric.Meter
}

func newInstruments(mp metric.MeterProvider) instruments {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName,
		metric.WithInstrumentationVersion(Version),
		metric.WithSchemaURL(semconv.SchemaURL))
	in := instruments{meter: m}
	var err error
	in.transitions, err = m.Int64Counter(semconv.MetricCircuitTransition,
		metric.WithUnit(semconv.UnitEvent),
		metric.WithDescription("Number of circuit breaker state changes."))
	if err != nil {
		otel.Handle(err)
		in.transitions, _ = noopMeter.Int64Counter(semconv.MetricCircuitTransition)
	}
	in.rejects, err = m.Int64Counter(semconv.MetricCircuitRejected,
		metric.WithUnit(semconv.UnitCall),
		metric.WithDescription("Number of calls a circuit breaker rejected without running them."))
	if err != nil {
		otel.Handle(err)
		in.rejects, _ = noopMeter.Int64Counter(semconv.MetricCircuitRejected)
	}
	in.state, err = m.Int64ObservableGauge(semconv.MetricCircuitState,
		metric.WithUnit(semconv.UnitDimless),
		metric.WithDescription("Circuit breaker state: 1 for the current state, 0 for the others."))
	if err != nil {
		otel.Handle(err)
		in.state = nil
	}
	return in
}

// newTelemetry builds the attribute sets of one breaker (name, and
// destination when it is not empty) over in. When gauge is true the
// breaker registers its own state gauge callback; a Gate's breakers don't:
// the Gate observes them all in one callback.
func newTelemetry(in instruments, name, destination string, observe func() State, gauge bool) *telemetry {
	t := &telemetry{transitions: in.transitions, rejects: in.rejects}
	base := []attribute.KeyValue{semconv.NATSCircuitNameKey.String(name)}
	if destination != "" {
		base = append(base, semconv.NATSCircuitDestinationKey.String(destination))
	}
	with := func(kv ...attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(append(make([]attribute.KeyValue, 0, len(base)+len(kv)), base...), kv...)...)
	}
	for _, s := range states {
		set := with(semconv.NATSCircuitStateKey.String(s.String()))
		t.stateOpts[s] = []metric.ObserveOption{metric.WithAttributeSet(set)}
		t.rejectOpts[s] = []metric.AddOption{metric.WithAttributeSet(set)}
		for _, to := range states {
			t.transitionOpts[s][to] = []metric.AddOption{metric.WithAttributeSet(with(
				semconv.NATSCircuitFromKey.String(s.String()),
				semconv.NATSCircuitToKey.String(to.String())))}
		}
	}
	if !gauge || in.state == nil {
		return t
	}
	gaugeInst := in.state
	reg, err := in.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		t.observe(o, gaugeInst, observe())
		return nil
	}, gaugeInst)
	if err != nil {
		otel.Handle(err)
	}
	t.reg = reg
	return t
}

// observe reports cur as the current state on the state gauge.
func (t *telemetry) observe(o metric.Observer, gauge metric.Int64ObservableGauge, cur State) {
	for _, s := range states {
		var v int64
		if s == cur {
			v = 1
		}
		o.ObserveInt64(gauge, v, t.stateOpts[s]...)
	}
}

func (t *telemetry) transition(from, to State) {
	t.transitions.Add(context.Background(), 1, t.transitionOpts[from][to]...)
}

func (t *telemetry) rejected(ctx context.Context, s State) {
	t.rejects.Add(ctx, 1, t.rejectOpts[s]...)
}

func (t *telemetry) close() error {
	if t.reg == nil {
		return nil
	}
	return t.reg.Unregister()
}
