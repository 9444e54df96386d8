package circuit

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/naq-io/naq/internal/semconv"
)

// ScopeName is the instrumentation scope of the breaker's meter.
const ScopeName = "github.com/naq-io/naq/circuit"

// Version is the version of the circuit package.
const Version = "0.1.0"

var states = [...]State{StateClosed, StateHalfOpen, StateOpen}

// telemetry holds a breaker's instruments and its precomputed attribute
// sets, built once in New so recording allocates nothing.
type telemetry struct {
	transitions metric.Int64Counter
	rejects     metric.Int64Counter
	reg         metric.Registration

	// Option slices are built once: passing a fresh variadic slice through
	// the API's interfaces would allocate on every call.
	stateOpts      [len(states)][]metric.ObserveOption
	transitionOpts [len(states)][len(states)][]metric.AddOption
	rejectOpts     [len(states)][]metric.AddOption
}

var noopMeter = noop.NewMeterProvider().Meter(ScopeName)

func newTelemetry(b *Breaker) *telemetry {
	mp := b.cfg.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName,
		metric.WithInstrumentationVersion(Version),
		metric.WithSchemaURL(semconv.SchemaURL))

	t := &telemetry{}
	name := semconv.NATSCircuitNameKey.String(b.name)
	for _, s := range states {
		st := semconv.NATSCircuitStateKey.String(s.String())
		set := attribute.NewSet(name, st)
		t.stateOpts[s] = []metric.ObserveOption{metric.WithAttributeSet(set)}
		t.rejectOpts[s] = []metric.AddOption{metric.WithAttributeSet(set)}
		for _, to := range states {
			t.transitionOpts[s][to] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(name,
				semconv.NATSCircuitFromKey.String(s.String()),
				semconv.NATSCircuitToKey.String(to.String())))}
		}
	}

	var err error
	t.transitions, err = m.Int64Counter(semconv.MetricCircuitTransition,
		metric.WithUnit(semconv.UnitEvent),
		metric.WithDescription("Number of circuit breaker state changes."))
	if err != nil {
		otel.Handle(err)
		t.transitions, _ = noopMeter.Int64Counter(semconv.MetricCircuitTransition)
	}
	t.rejects, err = m.Int64Counter(semconv.MetricCircuitRejected,
		metric.WithUnit(semconv.UnitCall),
		metric.WithDescription("Number of calls a circuit breaker rejected without running them."))
	if err != nil {
		otel.Handle(err)
		t.rejects, _ = noopMeter.Int64Counter(semconv.MetricCircuitRejected)
	}
	gauge, err := m.Int64ObservableGauge(semconv.MetricCircuitState,
		metric.WithUnit(semconv.UnitDimless),
		metric.WithDescription("Circuit breaker state: 1 for the current state, 0 for the others."))
	if err != nil {
		otel.Handle(err)
		return t
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		cur := b.observedState()
		for _, s := range states {
			var v int64
			if s == cur {
				v = 1
			}
			o.ObserveInt64(gauge, v, t.stateOpts[s]...)
		}
		return nil
	}, gauge)
	if err != nil {
		otel.Handle(err)
	}
	return t
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
