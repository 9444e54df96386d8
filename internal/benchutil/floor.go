package benchutil

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// FloorScope is the instrumentation scope of the floors' tracer and meter.
const FloorScope = "github.com/naq-io/naq/internal/benchutil/floor"

// Shape is what one instrumented operation recorded: its spans and its
// metric data points, as [Capture] saw them. The floors replay a Shape
// through the SDK alone, so a floor follows whatever the code under test
// records (attributes added or removed change the floor too).
type Shape struct {
	Spans   []SpanShape
	Records []Record
}

// SpanShape is one recorded span.
type SpanShape struct {
	Name         string
	Kind         trace.SpanKind
	Attrs        []attribute.KeyValue
	Events       []sdktrace.Event
	Links        int  // links (replayed as links to the parent context)
	RemoteParent bool // the span was a child of a remote (extracted) context
	Status       sdktrace.Status
}

// RecordKind is the kind of instrument a [Record] is replayed on.
type RecordKind int

// The instrument kinds a Record is replayed on.
const (
	Float64Histogram RecordKind = iota
	Int64Counter
	Float64Counter
	Int64Gauge
	Float64Gauge
)

// Record is one metric data point: replayed as Count recordings of Value
// (histograms: Sum/Count each) with the point's attribute set.
type Record struct {
	Name, Unit string
	Kind       RecordKind
	Bounds     []float64 // histogram bucket boundaries
	Count      int       // recordings (histograms); 1 otherwise
	Value      float64
	Attrs      attribute.Set
}

// Capture runs op once on fresh SDK providers (an always-sampling tracer
// provider with an in-memory recorder, a meter provider with a manual
// reader) and returns what it recorded. op must return once everything it
// records is recorded (wait for asynchronous handlers inside op). Only
// metrics with data points are kept; span events and links are kept as
// recorded. What op records while it sets things up (a wrapper's
// connection gauges, say) is counted as the call's; [CaptureCall] keeps
// setup apart.
func Capture(tb testing.TB, op func(tp trace.TracerProvider, mp metric.MeterProvider)) Shape {
	tb.Helper()
	return CaptureCall(tb, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		return func() { op(tp, mp) }
	})
}

// CaptureCall is [Capture] for a call that needs setting up: setup runs
// first (wrap a connection, subscribe) and returns the call; the Shape
// holds only what the call recorded: the spans that ended during it and,
// of the synchronous instruments, what it added (histogram counts and
// sums, counter increments). Observable instruments are never replayed:
// they cost nothing per call (a counter kept in atomics and read at
// collection, a connection gauge), so a floor that replayed their points
// as recordings would hold work the code under test does not do.
func CaptureCall(tb testing.TB, setup func(tp trace.TracerProvider, mp metric.MeterProvider) (call func())) Shape {
	tb.Helper()
	sr := tracetest.NewSpanRecorder()
	inflight := &inflight{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(inflight), sdktrace.WithSpanProcessor(sr))
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	}()
	smp := &syncTracker{MeterProvider: mp}
	collect := func() map[string]Record {
		var rm metricdata.ResourceMetrics
		if err := rd.Collect(context.Background(), &rm); err != nil {
			tb.Fatalf("benchutil: collect: %v", err)
		}
		out := map[string]Record{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if !smp.synchronous(m.Name) {
					continue
				}
				for _, r := range records(m) {
					out[r.Name+"\x00"+r.Attrs.Encoded(attribute.DefaultEncoder())] = r
				}
			}
		}
		return out
	}
	call := setup(tp, smp)
	waitSpans(tb, inflight)
	spansBefore := len(sr.Ended())
	before := collect()
	call()
	waitSpans(tb, inflight)
	var sh Shape
	for _, s := range sr.Ended()[spansBefore:] {
		sh.Spans = append(sh.Spans, SpanShape{
			Name:         s.Name(),
			Kind:         s.SpanKind(),
			Attrs:        slices.Clone(s.Attributes()),
			Events:       slices.Clone(s.Events()),
			Links:        len(s.Links()),
			RemoteParent: s.Parent().IsRemote(),
			Status:       s.Status(),
		})
	}
	after := collect()
	keys := make([]string, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if r, ok := delta(after[k], before[k]); ok {
			sh.Records = append(sh.Records, r)
		}
	}
	return sh
}

// delta is what the call added to a data point: r minus its value before
// (prev; zero when the point is new), and whether there is anything.
func delta(r, prev Record) (Record, bool) {
	switch r.Kind {
	case Float64Histogram:
		n := r.Count - prev.Count
		if n <= 0 {
			return r, false
		}
		r.Value = (r.Value*float64(r.Count) - prev.Value*float64(prev.Count)) / float64(n)
		r.Count = n
		return r, true
	case Int64Counter, Float64Counter:
		r.Value -= prev.Value
		return r, r.Value != 0
	default: // gauges: recorded by the call when new or changed
		return r, prev.Name == "" || r.Value != prev.Value
	}
}

// waitSpans waits until every started span has ended: a span may end on
// another goroutine (a handler's process span ends after the handler
// returned); metrics are recorded before a span ends.
func waitSpans(tb testing.TB, inflight *inflight) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); inflight.n.Load() != 0; {
		if time.Now().After(deadline) {
			tb.Fatalf("benchutil: %d span(s) still open after the captured operation", inflight.n.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// syncTracker is a MeterProvider that notes the names of the synchronous
// instruments created through it: only their data points are recordings
// a call made.
type syncTracker struct {
	metric.MeterProvider
	names sync.Map // instrument name -> struct{}
}

func (t *syncTracker) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return syncMeter{Meter: t.MeterProvider.Meter(name, opts...), t: t}
}

func (t *syncTracker) synchronous(name string) bool {
	_, ok := t.names.Load(name)
	return ok
}

// syncMeter notes every synchronous instrument it creates.
type syncMeter struct {
	metric.Meter
	t *syncTracker
}

func (m syncMeter) note(name string) { m.t.names.Store(name, struct{}{}) }

func (m syncMeter) Int64Counter(name string, o ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	m.note(name)
	return m.Meter.Int64Counter(name, o...)
}

func (m syncMeter) Int64UpDownCounter(name string, o ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	m.note(name)
	return m.Meter.Int64UpDownCounter(name, o...)
}

func (m syncMeter) Int64Histogram(name string, o ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	m.note(name)
	return m.Meter.Int64Histogram(name, o...)
}

func (m syncMeter) Int64Gauge(name string, o ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	m.note(name)
	return m.Meter.Int64Gauge(name, o...)
}

func (m syncMeter) Float64Counter(name string, o ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	m.note(name)
	return m.Meter.Float64Counter(name, o...)
}

func (m syncMeter) Float64UpDownCounter(name string, o ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	m.note(name)
	return m.Meter.Float64UpDownCounter(name, o...)
}

func (m syncMeter) Float64Histogram(name string, o ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	m.note(name)
	return m.Meter.Float64Histogram(name, o...)
}

func (m syncMeter) Float64Gauge(name string, o ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	m.note(name)
	return m.Meter.Float64Gauge(name, o...)
}

// inflight counts the spans started and not yet ended.
type inflight struct{ n atomic.Int64 }

func (p *inflight) OnStart(context.Context, sdktrace.ReadWriteSpan) { p.n.Add(1) }
func (p *inflight) OnEnd(sdktrace.ReadOnlySpan)                     { p.n.Add(-1) }
func (p *inflight) Shutdown(context.Context) error                  { return nil }
func (p *inflight) ForceFlush(context.Context) error                { return nil }

func records(m metricdata.Metrics) []Record {
	var out []Record
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			if dp.Count == 0 {
				continue
			}
			out = append(out, Record{Name: m.Name, Unit: m.Unit, Kind: Float64Histogram, Bounds: dp.Bounds,
				Count: int(dp.Count), Value: dp.Sum / float64(dp.Count), Attrs: dp.Attributes})
		}
	case metricdata.Sum[int64]:
		out = pointRecords(out, m, Int64Counter, d.DataPoints)
	case metricdata.Sum[float64]:
		out = pointRecords(out, m, Float64Counter, d.DataPoints)
	case metricdata.Gauge[int64]:
		out = pointRecords(out, m, Int64Gauge, d.DataPoints)
	case metricdata.Gauge[float64]:
		out = pointRecords(out, m, Float64Gauge, d.DataPoints)
	}
	return out
}

// pointRecords appends a Record of kind (count 1) per sum or gauge point.
func pointRecords[N int64 | float64](out []Record, m metricdata.Metrics, kind RecordKind, dps []metricdata.DataPoint[N]) []Record {
	for _, dp := range dps {
		out = append(out, Record{Name: m.Name, Unit: m.Unit, Kind: kind, Count: 1,
			Value: float64(dp.Value), Attrs: dp.Attributes})
	}
	return out
}

// Only returns the shape with just the spans named name (the other spans
// dropped, records kept).
func (sh Shape) Only(name string) Shape {
	out := Shape{Records: sh.Records}
	for _, s := range sh.Spans {
		if s.Name == name {
			out.Spans = append(out.Spans, s)
		}
	}
	return out
}

// String summarises the shape: span names with their attribute, event and
// link counts, and the metric recordings.
func (sh Shape) String() string {
	s := ""
	for _, sp := range sh.Spans {
		s += fmt.Sprintf("span %q kind=%s attrs=%d events=%d links=%d remote_parent=%v; ",
			sp.Name, sp.Kind, len(sp.Attrs), len(sp.Events), sp.Links, sp.RemoteParent)
	}
	for _, r := range sh.Records {
		s += fmt.Sprintf("metric %s ×%d attrs=%d; ", r.Name, r.Count, r.Attrs.Len())
	}
	return s
}

// SpanFloor returns a function that starts and ends the shape's spans on tp
// with the same name, kind, attributes, events, links and status: what the
// tracing SDK costs for the same spans, with tp's sampler and processors.
// It takes the SDK's cheapest path: the kind (and links) as start options,
// attributes, events and status set only when the span records (start
// options are copied for every span, sampled or not). Spans whose original
// had a remote parent are children of parent, and links point to parent's
// span context.
func (sh Shape) SpanFloor(tp trace.TracerProvider, parent context.Context) func() {
	tracer := tp.Tracer(FloorScope)
	type prepared struct {
		name   string
		opts   []trace.SpanStartOption
		attrs  []attribute.KeyValue
		events []sdktrace.Event
		status sdktrace.Status
		remote bool
	}
	link := trace.Link{SpanContext: trace.SpanContextFromContext(parent)}
	var ps []prepared
	for _, s := range sh.Spans {
		opts := []trace.SpanStartOption{trace.WithSpanKind(s.Kind)}
		if s.Links > 0 {
			links := make([]trace.Link, s.Links)
			for i := range links {
				links[i] = link
			}
			opts = append(opts, trace.WithLinks(links...))
		}
		ps = append(ps, prepared{name: s.Name, opts: opts, attrs: s.Attrs, events: s.Events, status: s.Status,
			remote: s.RemoteParent})
	}
	root := context.Background()
	return func() {
		for i := range ps {
			p := &ps[i]
			ctx := root
			if p.remote {
				ctx = parent
			}
			_, span := tracer.Start(ctx, p.name, p.opts...)
			describe(span, p.attrs, p.events, p.status)
			span.End()
		}
	}
}

// describe gives span the attributes, events and status of a captured
// span when it records (the SDK's cheapest path: nothing for one that does
// not) and reports whether it records.
func describe(span trace.Span, attrs []attribute.KeyValue, events []sdktrace.Event, status sdktrace.Status) bool {
	if !span.IsRecording() {
		return false
	}
	span.SetAttributes(attrs...)
	for _, e := range events {
		span.AddEvent(e.Name, trace.WithAttributes(e.Attributes...))
	}
	if status.Code != codes.Unset {
		span.SetStatus(status.Code, status.Description)
	}
	return true
}

// MetricFloor returns a function that makes the shape's recordings on mp
// through synchronous instruments of the same names, units and buckets,
// with precomputed attribute sets: what the metrics SDK costs for the same
// data points. The context is passed to every recording (a context with a
// sampled span makes the SDK offer exemplars, as it does for the
// instrumented code).
func (sh Shape) MetricFloor(tb testing.TB, mp metric.MeterProvider) func(ctx context.Context) {
	tb.Helper()
	f := sh.metricFloor(tb, mp, false)
	return func(ctx context.Context) { f(ctx, 0) }
}

// metricFloor is MetricFloor; with measured, histograms record the d they
// are given instead of the captured value.
func (sh Shape) metricFloor(tb testing.TB, mp metric.MeterProvider, measured bool) func(ctx context.Context, d float64) {
	tb.Helper()
	meter := mp.Meter(FloorScope)
	var fns []func(ctx context.Context, d float64)
	for _, r := range sh.Records {
		set := metric.WithAttributeSet(r.Attrs)
		rec := []metric.RecordOption{set}
		add := []metric.AddOption{set}
		n, v := r.Count, r.Value
		var err error
		switch r.Kind {
		case Float64Histogram:
			var h metric.Float64Histogram
			h, err = meter.Float64Histogram(r.Name, metric.WithUnit(r.Unit), metric.WithExplicitBucketBoundaries(r.Bounds...))
			fns = append(fns, func(ctx context.Context, d float64) {
				if !measured {
					d = v
				}
				for range n {
					h.Record(ctx, d, rec...)
				}
			})
		case Int64Counter:
			var c metric.Int64Counter
			c, err = meter.Int64Counter(r.Name, metric.WithUnit(r.Unit))
			iv := int64(v)
			fns = append(fns, func(ctx context.Context, _ float64) { c.Add(ctx, iv, add...) })
		case Float64Counter:
			var c metric.Float64Counter
			c, err = meter.Float64Counter(r.Name, metric.WithUnit(r.Unit))
			fns = append(fns, func(ctx context.Context, _ float64) { c.Add(ctx, v, add...) })
		case Int64Gauge:
			var g metric.Int64Gauge
			g, err = meter.Int64Gauge(r.Name, metric.WithUnit(r.Unit))
			iv := int64(v)
			fns = append(fns, func(ctx context.Context, _ float64) { g.Record(ctx, iv, rec...) })
		case Float64Gauge:
			var g metric.Float64Gauge
			g, err = meter.Float64Gauge(r.Name, metric.WithUnit(r.Unit))
			fns = append(fns, func(ctx context.Context, _ float64) { g.Record(ctx, v, rec...) })
		}
		if err != nil {
			tb.Fatalf("benchutil: floor instrument %s: %v", r.Name, err)
		}
	}
	return func(ctx context.Context, d float64) {
		for _, f := range fns {
			f(ctx, d)
		}
	}
}

// SampledContext returns a context carrying a valid, sampled, remote span
// context (a fixed trace and span ID): the parent of process floors and the
// context inject floors write.
func SampledContext() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc)
}

// Traceparent is the W3C traceparent of [SampledContext].
const Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// headerCarrier is the least a propagator needs from a NATS header: exact
// (case-sensitive) keys, and Set reusing the value slot already there.
type headerCarrier map[string][]string

func (h headerCarrier) Get(k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h headerCarrier) Set(k, v string) {
	if s := h[k]; len(s) == 1 {
		s[0] = v
		return
	}
	h[k] = []string{v}
}

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// InjectFloor returns a function that injects the trace context of ctx with
// prop into one reused header (hdr, written in place): what propagation
// costs at least per publish.
func InjectFloor(prop propagation.TextMapPropagator, ctx context.Context, hdr map[string][]string) func() {
	c := headerCarrier(hdr)
	return func() { prop.Inject(ctx, c) }
}

// ExtractFloor returns a function that extracts the trace context of hdr
// with prop: what reading the producer context costs at least per
// delivered message.
func ExtractFloor(prop propagation.TextMapPropagator, hdr map[string][]string) func() context.Context {
	c := headerCarrier(hdr)
	bg := context.Background()
	return func() context.Context { return prop.Extract(bg, c) }
}

// clockBase is the base of monotonic-only clock readings: time.Since of a
// time that has a monotonic reading reads the monotonic clock alone, where
// time.Now reads the wall clock as well.
var clockBase = time.Now()

// Clock is a duration measurement: two monotonic clock reads, the least
// timing a call costs when no span provides the timestamps.
//
//go:noinline
func Clock() time.Duration {
	start := time.Since(clockBase)
	return time.Since(clockBase) - start
}
