package instrument

// The one operation pipeline.
//
// Every instrumented call of every wrapper in this package (core *Conn,
// JetStream, Stream, Consumer, Msg, KeyValue) runs through the functions in
// this file, so spans, metrics, propagation and the breaker gate behave the
// same everywhere. Internal API for wrapper authors:
//
// 1. One pipeline per wrapper, built once at construction:
//
//	p := newPipeline(nc, opts) // nc may be nil (no server.address, no default conn name)
//
// It resolves the options (globals read now), creates the tracer and the
// meters.Messaging instruments once, and detects noop providers
// (p.tracing / p.metering false: no span / no metric work at all). A wrapper
// that returns another wrapper (JetStream → Stream → Consumer) passes its
// *pipeline down instead of building a new one.
//
// 2. Declare each operation ONCE as an *opSpec (precomputed span name, span
// kind and attributes, attribute.Set-backed metric options, chosen
// instruments):
//
//	// fixed destination (stream, bucket, consumer, management call):
//	s := p.spec(specConfig{Op: semconv.OpKVGet, Kind: trace.SpanKindClient,
//	        Dest: bucket, Attrs: []attribute.KeyValue{semconv.NATSKVBucketKey.String(bucket)}})
//
//	// destination known per call (a subject): a family caches one spec per
//	// subject template (bounded, see tracing.LimitTemplates):
//	f := p.family(specConfig{Op: semconv.OpPublish, OpType: semconv.OpTypeSend,
//	        Kind: trace.SpanKindProducer})
//	s := f.spec(subject) // nil when the Filter rejects the call
//
// The Filter is applied by p.spec at construction (with FilterDest, default
// Dest) and by f.spec per call (with the raw subject). A nil or filtered spec
// (!s.active()) means: call nats.go straight through. do and run do that
// themselves, and begin/beginProcess on an inactive spec return a call whose
// methods are no-ops, so checking active() first is only an optimisation.
// A spec is also inactive when there is nothing to do at all (noop tracer,
// noop meter and no gate).
//
// Meters are chosen from OpType unless Hist / Count override them:
//
//	OpType   histogram                              counter (+n per call, default n=1)
//	send     messaging.client.operation.duration    messaging.client.sent.messages
//	receive  messaging.client.operation.duration    messaging.client.consumed.messages
//	process  messaging.process.duration             messaging.client.consumed.messages
//	settle   messaging.client.operation.duration    none
//	""       messaging.client.operation.duration    none   (KV, js.<op>, connect)
//
// Attrs are constant attributes put on the span AND on the metrics (keep them
// low-cardinality: a stream, bucket or consumer-group name goes through
// p.name first, and so does a Dest that is one); SpanAttrs go on the span only.
// NoDestAttrs leaves out messaging.destination.name/template
// (Dest still names the span). Span attributes are set right after the span
// starts and only when it records, so an unsampled span costs no attribute
// copy; samplers see the span name and kind. server.address/port go on spans
// only. A spec is gated only when its Gate names a gate family (see the
// gate* constants) and a circuit.Gate is set (WithGate): the pipeline asks
// the gate for the guard of (family, Dest) once, when the spec is built.
// Process specs are never gated.
//
// 3. Run a call:
//
//	v, err := do(ctx, p, s, func(ctx context.Context) (T, error) { ... }) // any result type
//	err := run(ctx, p, s, func(ctx context.Context) error { ... })       // error only
//
// or, when the wrapper needs to act between start and end (inject headers,
// set a batch count, add links, end later from an ack future):
//
//	var c call                     // on the stack: begin fills it in place
//	ctx, err := p.begin(ctx, s, &c) // err != nil: the gate rejected the call; it
//	if err != nil {                // is already recorded (error.type=circuit_open)
//	        return err             // and must be returned unchanged; do NOT end c
//	}
//	defer c.finish(&err)           // ends c with err when the function returns
//	if m := p.withTrace(ctx, c.spanContext(), nil, subj, "", nil, data, true); m != nil {
//	        err = nc.PublishMsg(m) // publish: a pooled copy carrying the trace context
//	        putMsg(m)
//	} else {
//	        err = nc.Publish(subj, data) // nothing to propagate: as raw nats.go
//	}
//	c.setCount(n)                  // optional: batch size for the counter (0 = no count)
//	c.link(msg.Header)             // optional: link to a producer (batch receive)
//	c.setAttributes(kv...)         // optional: per-call span-only attributes
//	return err
//
// A call is ended exactly once, in a defer, so that a panic still ends it:
// c.finish(&err) is c.end(err) unless the function panics, in which case
// it records the panic (span event "exception" with the panic's type,
// message and stack, error.type=panic on the span and the metrics, a
// failure for the gate's done, which frees a half-open probe slot at once)
// and panics again with the same value. Where the recorded outcome is not
// the returned error (an empty receive), defer c.finish(&outcome) with a
// variable of its own. A call handed over to end elsewhere (an ack future,
// a batch forwarder; c.end may run on another goroutine) is guarded until
// then with defer c.endOnPanic(), which only acts on a panic; the new owner
// ends it with a defer of its own.
//
// c.end classifies err with the ErrorClassifier, sets span status and
// error.type, records the histogram (and the message count, with
// error.type on failure), reports the outcome and duration to the gate's
// done (nil for an expected miss) and ends the span; the metric duration
// is always the span's. A call whose SDK span records and has no gate ends
// the span first, without a timestamp, and takes the duration from the
// span's own start and end times (no clock read by naq); other calls read
// the clock once at each end (see end for which). The error itself is never
// changed by the pipeline. p.withTrace writes only when ctx carries a valid
// span context or baggage, through p.prop, the wrapper's
// tracing.Propagator (the one propagation implementation).
//
// 4. Process spans (a delivered message, a KV watch update):
//
//	var c call
//	ctx = p.beginProcess(ctx, s, msg.Header, &c) // ungated, never fails
//	defer c.finish(nil)                          // or &err for the handler's error
//	handler(ctx, msg)
//
// The span is a child of the producer context extracted from the header and
// also links to it (tracing.StartLinked, which tracing.StartProcess uses
// too). The returned ctx carries the process span (or, with tracing off,
// the extracted producer context). A handler's process span records its
// meters before it ends; a wrapper whose process call returns to its
// caller only after the end (ProcessMsg) sets c.metersFirst = false.
//
// The hot path of a non-failing call allocates nothing for metrics: all
// attribute sets and option slices are built with the spec, and the message
// count is an atomic add into a cell of the spec (internal/msgcount,
// reported by an observable counter at collection). The error path caches
// one option set and cell per (spec, error.type). Telemetry never fails a
// call: instrument creation errors and panics of user hooks (Filter,
// ErrorClassifier, SubjectNamer) go to otel.Handle.
//
// Helpers: p.template(subject) is the bounded destination template of a
// subject, p.name(kind, name) the bounded label value of a stream, bucket,
// durable or queue-group name (names.go); propagates(ctx, sc) tells
// whether there is a trace context to write (withTrace returns nil
// otherwise, to keep a header-less nats.go call);
// c.recording() tells whether per-call span attributes are worth computing.
// For a *nats.Msg owned by the caller use out, pooled := p.tracedOn(ctx,
// sc, nc, msg) (conn.go), withTrace's form for a whole message: it sends a
// pooled copy carrying the trace context and leaves the caller's message untouched, so a message
// shared by goroutines is never written concurrently; putMsg(out) when
// pooled, after nats.go returns. It leaves the trace context out (a
// nats.propagation.skipped span event says why) when nc's server does not
// support headers or the header would push the message past max_payload,
// so the call behaves exactly as raw nats.go (withTrace decides). Not for
// jetstream PublishMsgAsync, which keeps the message in its ack future:
// copy without the pool there.

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/msgcount"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

// Gate families (specConfig.Gate): one destination breaker per family and
// destination, shared by every wrapper built with the same circuit.Gate.
const (
	gateRequest   = "request"    // core requests, by subject template
	gateJSPublish = "js.publish" // JetStream publishes, by subject template
	gateJS        = "js"         // JetStream API calls, by stream/bucket name
	gateKV        = "kv"         // KeyValue calls, by bucket
	gateObj       = "obj"        // ObjectStore calls, by bucket
)

// histKind selects the duration histogram of a spec.
type histKind uint8

const (
	histAuto      histKind = iota // from OpType: process → process, else operation
	histOperation                 // messaging.client.operation.duration
	histProcess                   // messaging.process.duration
	histNone                      // no histogram
)

// countKind selects the message counter of a spec.
type countKind uint8

const (
	countAuto     countKind = iota // from OpType: send → sent, receive/process → consumed
	countNone                      // no counter
	countSent                      // messaging.client.sent.messages
	countConsumed                  // messaging.client.consumed.messages
)

// maxCachedSubjects bounds the raw-subject → spec cache of a family. Beyond
// it, lookups still work but run the SubjectNamer on every call.
const maxCachedSubjects = 1024

// specConfig declares an operation; see the comment at the top of this file.
type specConfig struct {
	Op          string         // messaging.operation.name, first word of the span name
	OpType      string         // messaging.operation.type; "" = attribute not set
	Kind        trace.SpanKind // span kind
	Dest        string         // destination template; "" = span name is Op alone
	NoDestAttrs bool           // do not set messaging.destination.name/template
	FilterDest  string         // what the Filter sees; default Dest
	Attrs       []attribute.KeyValue
	SpanAttrs   []attribute.KeyValue
	Hist        histKind
	Count       countKind
	// Gate names the family of the gate's destination breaker
	// (circuit.Gate.Guard: "request", "js.publish", "js", "kv"); "" means
	// the operation is never gated (core publishes, receives, settles,
	// process spans). Policy is the gate's policy for it (default
	// circuit.PolicyRequest).
	Gate   string
	Policy circuit.Policy
}

// opSpec is a declared operation with everything precomputed.
type opSpec struct {
	op, opType string
	name       string // span name
	dest       string
	kind       trace.SpanKind
	off        bool           // filtered, or nothing to record
	filtered   bool           // the Filter rejected it (off is true too)
	guard      *circuit.Guard // nil: not gated

	hist    metric.Float64Histogram // nil: none
	counter *msgcount.Counter       // nil: none
	count   *msgcount.Cell          // counter's cell of metricAttrs

	startOpts   []trace.SpanStartOption // span kind only
	spanAttrs   []attribute.KeyValue    // set once the span is known to record
	metricAttrs []attribute.KeyValue
	recOpts     []metric.RecordOption
	errOpts     sync.Map // error.type → *metricOpts
}

type metricOpts struct {
	rec   []metric.RecordOption
	count *msgcount.Cell // nil when the spec has no counter
}

// active reports whether calls of s are instrumented.
func (s *opSpec) active() bool { return s != nil && !s.off }

// pipeline is the per-wrapper instrumentation state.
type pipeline struct {
	cfg      config
	tracer   trace.Tracer
	meters   *meters.Messaging // nil when !metering
	tracing  bool
	metering bool
	namer    tracing.SubjectNamer // cfg.namer behind tracing.LimitTemplates
	names    *nameCaps            // the caps of every other name (names.go)
	prop     tracing.Propagator   // of cfg.propagators: inject, extract, links
	fields   []string             // the keys prop writes, lower case, de-duplicated

	spanBase   []attribute.KeyValue // on every span
	metricBase []attribute.KeyValue // on every metric data point
	health     *healthState         // consumer-health metrics and name caps (health.go)
	stab       semconv.Stability    // OTEL_SEMCONV_STABILITY_OPT_IN, read once here
}

// newPipeline builds the pipeline for one wrapper. nc may be nil.
func newPipeline(nc *nats.Conn, opts []Option) *pipeline {
	cfg := newConfig(opts)
	p := &pipeline{cfg: cfg}
	if _, isNoop := cfg.tp.(tracenoop.TracerProvider); !isNoop {
		p.tracing = true
		p.tracer = cfg.tp.Tracer(ScopeName,
			trace.WithInstrumentationVersion(Version),
			trace.WithSchemaURL(semconv.SchemaURL))
	}
	if _, isNoop := cfg.mp.(metricnoop.MeterProvider); !isNoop {
		p.metering = true
		p.meters = meters.NewMessaging(cfg.mp)
	}
	p.namer = tracing.LimitTemplates(cfg.namer, cfg.maxTemplates)
	p.names = newNameCaps(cfg.maxTemplates)
	p.prop = tracing.NewPropagator(cfg.propagators)
	p.fields = propagatorFields(p.prop)

	if p.cfg.gate != nil && nc != nil {
		p.cfg.gate.Watch(nc) // no-op when the gate already watches nc
	}
	if p.cfg.connName == "" && nc != nil {
		p.cfg.connName = nc.Opts.Name
	}
	p.stab = semconv.StabilityFromEnv()
	p.spanBase = p.stab.Attrs([]attribute.KeyValue{semconv.System})
	p.metricBase = p.stab.Attrs([]attribute.KeyValue{semconv.System})
	// server.address/port go on spans only: metric labels are limited to
	// system, operation, destination, error.type and connection name
	// (DESIGN.md), which also keeps the SDK's per-record work small.
	if host, port := serverAddress(nc); host != "" {
		p.spanBase = append(p.spanBase, semconv.ServerAddressKey.String(host))
		if port > 0 {
			p.spanBase = append(p.spanBase, semconv.ServerPortKey.Int(port))
		}
	}
	if p.cfg.connName != "" {
		kv := semconv.NATSConnectionKey.String(p.cfg.connName)
		p.spanBase = append(p.spanBase, kv)
		p.metricBase = append(p.metricBase, kv)
	}
	p.health = newHealthState(p)
	return p
}

// propagatorFields returns the header keys prop writes, lower case and
// de-duplicated. A panicking propagator is reported to otel.Handle and
// yields none (the header is then measured as a whole).
func propagatorFields(prop tracing.Propagator) (fields []string) {
	defer func() {
		if r := recover(); r != nil {
			otel.Handle(fmt.Errorf("instrument: propagator Fields panicked: %v", r))
			fields = nil
		}
	}()
	for _, f := range prop.Fields() {
		if f = strings.ToLower(f); !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	return fields
}

// serverAddress returns host and port of the server nc is connected to, read
// from the redacted URL (never credentials).
func serverAddress(nc *nats.Conn) (string, int) {
	if nc == nil {
		return "", 0
	}
	raw := nc.ConnectedUrlRedacted()
	if raw == "" {
		return "", 0
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		return u.Hostname(), 0
	}
	port, _ := strconv.Atoi(portStr)
	return host, port
}

// filtered reports whether the Filter rejects (op, destination). A panicking
// Filter is reported to otel.Handle and the call is instrumented.
func (p *pipeline) filtered(op, destination string) (rejected bool) {
	if p.cfg.filter == nil {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			otel.Handle(fmt.Errorf("instrument: Filter panicked: %v", r))
			rejected = false
		}
	}()
	return !p.cfg.filter(op, destination)
}

// classify runs the ErrorClassifier on a non-nil err. A panicking classifier
// is reported to otel.Handle and the error counts as a failure.
func (p *pipeline) classify(err error) (failed bool) {
	defer func() {
		if r := recover(); r != nil {
			otel.Handle(fmt.Errorf("instrument: ErrorClassifier panicked: %v", r))
			failed = true
		}
	}()
	return p.cfg.classifier(err)
}

// template returns the destination template of subject (bounded). A
// panicking SubjectNamer is reported to otel.Handle and yields
// tracing.OverflowTemplate.
func (p *pipeline) template(subject string) (tmpl string) {
	defer func() {
		if r := recover(); r != nil {
			otel.Handle(fmt.Errorf("instrument: SubjectNamer panicked: %v", r))
			tmpl = tracing.OverflowTemplate
		}
	}()
	return p.namer(subject)
}

// spec declares an operation with a fixed destination.
func (p *pipeline) spec(sc specConfig) *opSpec {
	fd := sc.FilterDest
	if fd == "" {
		fd = sc.Dest
	}
	if p.filtered(sc.Op, fd) {
		s := p.build(sc, false)
		s.off, s.filtered = true, true
		return s
	}
	return p.build(sc, true)
}

// build precomputes everything for sc (no filter applied); guarded says
// whether to ask the gate for the guard of sc's destination.
func (p *pipeline) build(sc specConfig, guarded bool) *opSpec {
	s := &opSpec{
		op:     sc.Op,
		opType: sc.OpType,
		name:   tracing.SpanName(sc.Op, sc.Dest),
		dest:   sc.Dest,
		kind:   sc.Kind,
	}
	if guarded && p.cfg.gate != nil && sc.Gate != "" && sc.OpType != semconv.OpTypeProcess {
		pol := sc.Policy
		if pol == 0 {
			pol = circuit.PolicyRequest
		}
		s.guard = p.cfg.gate.Guard(sc.Gate, sc.Dest, pol)
	}
	common := make([]attribute.KeyValue, 0, 4+len(sc.Attrs))
	common = append(common, semconv.MessagingOperationNameKey.String(sc.Op))
	if sc.OpType != "" {
		common = append(common, semconv.MessagingOperationTypeKey.String(sc.OpType))
	}
	if sc.Dest != "" && !sc.NoDestAttrs {
		common = append(common,
			semconv.MessagingDestinationNameKey.String(sc.Dest),
			semconv.MessagingDestinationTemplateKey.String(sc.Dest))
	}
	common = p.stab.Attrs(append(common, sc.Attrs...))
	spanOnly := p.stab.Attrs(sc.SpanAttrs)

	s.spanAttrs = make([]attribute.KeyValue, 0, len(p.spanBase)+len(common)+len(spanOnly))
	s.spanAttrs = append(append(append(s.spanAttrs, p.spanBase...), common...), spanOnly...)
	// Attributes are set after Start, and only on recording spans: passing
	// them as start options makes the SDK copy them for every span, sampled
	// or not. Samplers see the span name ("<op> <destination>") and kind.
	s.startOpts = []trace.SpanStartOption{trace.WithSpanKind(sc.Kind)}

	s.metricAttrs = make([]attribute.KeyValue, 0, len(p.metricBase)+len(common)+1)
	s.metricAttrs = append(append(s.metricAttrs, p.metricBase...), common...)
	set := attribute.NewSet(s.metricAttrs...)
	s.recOpts = []metric.RecordOption{metric.WithAttributeSet(set)}

	if p.metering {
		hk := sc.Hist
		if hk == histAuto {
			hk = histOperation
			if sc.OpType == semconv.OpTypeProcess {
				hk = histProcess
			}
		}
		switch hk {
		case histOperation:
			s.hist = p.meters.OperationDuration
		case histProcess:
			s.hist = p.meters.ProcessDuration
		}
		ck := sc.Count
		if ck == countAuto {
			switch sc.OpType {
			case semconv.OpTypeSend:
				ck = countSent
			case semconv.OpTypeReceive, semconv.OpTypeProcess:
				ck = countConsumed
			default:
				ck = countNone
			}
		}
		switch ck {
		case countSent:
			s.counter = msgCounter(p.meters.SentMessages)
		case countConsumed:
			s.counter = msgCounter(p.meters.ConsumedMessages)
		}
		if s.counter != nil {
			s.count = s.counter.Cell(set)
		}
	}
	if !p.tracing && s.hist == nil && s.counter == nil && s.guard == nil {
		s.off = true // nothing to do: call straight through
	}
	return s
}

// msgCounter returns the atomics-backed counter behind one of
// meters.Messaging's message counters (always one: meters.NewMessaging
// makes them), or nil.
func msgCounter(c metric.Int64Counter) *msgcount.Counter {
	mc, _ := c.(*msgcount.Counter)
	return mc
}

// errorOpts returns the metric options of s with error.type=etype added,
// built once per (spec, error type).
func (s *opSpec) errorOpts(etype string) *metricOpts {
	if v, ok := s.errOpts.Load(etype); ok {
		return v.(*metricOpts)
	}
	attrs := make([]attribute.KeyValue, 0, len(s.metricAttrs)+1)
	attrs = append(append(attrs, s.metricAttrs...), semconv.ErrorTypeKey.String(etype))
	set := attribute.NewSet(attrs...)
	mo := &metricOpts{rec: []metric.RecordOption{metric.WithAttributeSet(set)}}
	if s.counter != nil {
		mo.count = s.counter.Cell(set)
	}
	v, _ := s.errOpts.LoadOrStore(etype, mo)
	return v.(*metricOpts)
}

// specFamily is an operation whose destination is a subject known per call.
type specFamily struct {
	p          *pipeline
	sc         specConfig
	bySubject  sync.Map // raw subject → *opSpec
	nSubjects  atomic.Int32
	byTemplate sync.Map // template → *opSpec
}

// family declares an operation whose destination is a per-call subject.
// sc.Dest and sc.FilterDest are ignored.
func (p *pipeline) family(sc specConfig) *specFamily {
	sc.Dest, sc.FilterDest = "", ""
	return &specFamily{p: p, sc: sc}
}

// spec returns the spec for subject, or nil when the Filter rejects the call.
// After the first call for a subject it does not allocate.
func (f *specFamily) spec(subject string) *opSpec {
	if f.p.filtered(f.sc.Op, subject) {
		return nil
	}
	if v, ok := f.bySubject.Load(subject); ok {
		return v.(*opSpec)
	}
	return f.slow(subject)
}

func (f *specFamily) slow(subject string) *opSpec {
	tmpl := f.p.template(subject)
	var s *opSpec
	if v, ok := f.byTemplate.Load(tmpl); ok {
		s = v.(*opSpec)
	} else {
		sc := f.sc
		sc.Dest = tmpl
		v, _ := f.byTemplate.LoadOrStore(tmpl, f.p.build(sc, true))
		s = v.(*opSpec)
	}
	if f.nSubjects.Load() < maxCachedSubjects {
		if _, loaded := f.bySubject.LoadOrStore(subject, s); !loaded {
			f.nSubjects.Add(1)
		}
	}
	return s
}

// call is one running operation; see begin and beginProcess.
type call struct {
	p    *pipeline
	spec *opSpec
	ctx  context.Context // carries the span (exemplars)
	span trace.Span      // nil when tracing is off
	rec  bool            // span records (asked once, at start)
	// metersFirst: record the meters before the span ends (see end).
	metersFirst bool
	times       spanTimes     // span's own start/end times; nil: timed by naq
	start       time.Time     // wall start of a recording span; else zero
	t0          time.Duration // monotonic start (monoNow) of a call whose span does not record; 0: untimed
	done        func(error, time.Duration)
	n           int64
}

// spanTimes is what the SDK's recording spans report of their times
// (sdktrace.ReadOnlySpan). A call whose span has them takes its duration
// from them: the span ends without a timestamp option (the SDK reads the
// clock itself) and the metrics get exactly the span's duration, with no
// clock read by naq.
type spanTimes interface {
	StartTime() time.Time
	EndTime() time.Time
}

// begin starts a call of s in c (the caller's, usually on its stack, so
// that nothing is copied or allocated): its span, then the gate, asked with
// the span's context (a rejected call still gets a span). It returns the
// call's context. A non-nil error is the gate's rejection, already
// recorded; return it unchanged and do not end c. An inactive s (nil or
// filtered) returns ctx unchanged and leaves c a call whose methods do
// nothing, so callers may skip the active() check.
func (p *pipeline) begin(ctx context.Context, s *opSpec, c *call) (context.Context, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if !s.active() {
		*c = call{p: p, ctx: ctx}
		return ctx, nil
	}
	*c = call{p: p, spec: s, ctx: ctx, n: 1}
	c.startSpan(ctx, s)
	if s.guard != nil {
		// The gate gets the call's context, so a breaker records its
		// rejection and state-change span events on this call's span.
		done, err := s.guard.Allow(c.ctx)
		if err != nil {
			c.reject()
			*c = call{p: p, ctx: ctx} // end on it is a no-op
			return ctx, err
		}
		c.done = done
	}
	return c.ctx, nil
}

func (c *call) startSpan(ctx context.Context, s *opSpec) {
	if c.p.tracing {
		c.ctx, c.span = c.p.tracer.Start(ctx, s.name, s.startOpts...)
		if c.rec = c.span.IsRecording(); c.rec {
			c.span.SetAttributes(s.spanAttrs...)
		}
	}
	c.startClock(s)
}

// startClock takes the start time of a call whose span has started (or
// that has none): the recording span's own, or the wall clock for a
// recording span that does not report its times (its end timestamp is
// naq's), or only the monotonic clock when something needs just the
// duration (meters, the gate).
func (c *call) startClock(s *opSpec) {
	switch {
	case c.rec:
		if st, ok := c.span.(spanTimes); ok {
			c.times, c.start = st, st.StartTime()
			return
		}
		c.start = time.Now()
	case c.p.metering || s.guard != nil:
		c.t0 = monoNow()
	}
}

// epoch is the base of monoNow's readings: a second before the package
// started (Add keeps the monotonic reading), so that every reading is at
// least a second, never the 0 that marks an untimed call, even on a clock
// that advances in coarse ticks.
var epoch = time.Now().Add(-time.Second)

// monoNow reads the monotonic clock alone, as the time since epoch (≥ 1s):
// time.Now reads the wall clock as well, which a duration does not need.
func monoNow() time.Duration { return time.Since(epoch) }

// elapsed reads the clock at the end of a call that is not timed by its
// span: now (zero unless the span records; it then ends at now) and the
// call's duration (zero for an untimed call).
func (c *call) elapsed() (now time.Time, d time.Duration) {
	switch {
	case c.rec:
		now = time.Now()
		d = now.Sub(c.start)
	case c.t0 != 0:
		d = monoNow() - c.t0
	}
	return now, d
}

// wall is the delivery time of a consumed message (consumer lag): now when
// the caller has it, else the wall time of the call's start when its span
// keeps it, else the wall time now, read once the call has begun.
func (c *call) wall(now time.Time) time.Time {
	if !now.IsZero() {
		return now
	}
	if !c.start.IsZero() {
		return c.start
	}
	return time.Now()
}

// reject ends a call the gate refused: its span and a duration data point
// get error.type=circuit_open.
func (c *call) reject() {
	s := c.spec
	now, d := c.elapsed()
	if c.p.metering && s.hist != nil {
		mo := s.errorOpts(semconv.ErrorTypeCircuitOpen)
		s.hist.Record(c.ctx, d.Seconds(), mo.rec...)
	}
	if c.span == nil {
		return
	}
	if !c.rec {
		c.span.End()
		return
	}
	c.span.SetAttributes(semconv.ErrorTypeKey.String(semconv.ErrorTypeCircuitOpen))
	c.span.SetStatus(codes.Error, semconv.ErrorTypeCircuitOpen)
	c.span.End(trace.WithTimestamp(now))
}

// beginProcess starts in c (as begin) the process span of a delivered
// message whose header is h: a child of the producer context in h with a
// link to it, and returns its context. It is never gated. s may be
// inactive, in which case only the producer context is extracted (when h
// is not empty) and end does nothing.
func (p *pipeline) beginProcess(ctx context.Context, s *opSpec, h nats.Header, c *call) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(h) > 0 {
		ctx = p.prop.Extract(ctx, h)
	}
	if !s.active() {
		*c = call{p: p, ctx: ctx}
		return ctx
	}
	*c = call{p: p, spec: s, ctx: ctx, n: 1, metersFirst: true}
	if p.tracing {
		c.ctx, c.span, c.rec = tracing.StartLinked(ctx, p.tracer, s.name, s.startOpts, s.spanAttrs)
	}
	c.startClock(s)
	return c.ctx
}

// injectHeader writes the trace context of ctx (whose span context is sc)
// into h (not nil) with the pipeline's tracing.Propagator, formatting a
// W3C traceparent into buf (a pooled message's; nil: new memory, see
// tracing.Propagator.InjectBuffered), and asks the server to trace the
// message (WithServerTrace) when configured.
func (p *pipeline) injectHeader(ctx context.Context, sc trace.SpanContext, h nats.Header, buf *tracing.TraceparentBuffer) {
	p.prop.InjectBuffered(ctx, sc, h, buf)
	if p.cfg.serverTrace.dest != nil {
		p.askServerTrace(sc, h)
	}
}

// askServerTrace adds the Nats-Trace-Dest header of WithServerTrace to h
// (the header of the message sent, never the caller's) when the span of ctx
// is sampled and its trace falls in the configured ratio, unless h already
// names a trace destination.
func (p *pipeline) askServerTrace(sc trace.SpanContext, h nats.Header) {
	if !sc.IsSampled() || !tracing.TraceIDRatio(sc.TraceID(), p.cfg.serverTrace.ratio) {
		return
	}
	if _, ok := h[traceDestHeader]; !ok {
		h[traceDestHeader] = p.cfg.serverTrace.dest
	}
}

// spanContext is the span context the call propagates: its own span's
// (read from the span, with no context lookup), or the one its context
// carries when it started none.
func (c *call) spanContext() trace.SpanContext {
	if c.span != nil {
		return c.span.SpanContext()
	}
	if c.ctx == background {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(c.ctx)
}

// background is context.Background(), which carries no span context and no
// baggage: calls made without a context (Publish rather than
// PublishContext) skip looking for them.
var background = context.Background()

// propagates reports whether there is a trace context to write for ctx,
// whose span context is sc (tracing.NeedsInject for a caller that holds sc
// already): a valid sc, or baggage.
func propagates(ctx context.Context, sc trace.SpanContext) bool {
	return sc.IsValid() || ctx != background && baggage.FromContext(ctx).Len() > 0
}

// setCount sets how many messages the call sent or consumed (batch size);
// 0 records no count. Default 1.
func (c *call) setCount(n int) { c.n = int64(n) }

// link adds a link to the producer span carried in h (batch receives).
// It costs nothing unless the span is recording.
func (c *call) link(h nats.Header) {
	if !c.rec || len(h) == 0 {
		return
	}
	if l, ok := c.p.prop.Link(h); ok {
		c.span.AddLink(l)
	}
}

// recording reports whether the call's span records (worth computing extra
// span attributes for).
func (c *call) recording() bool { return c.rec }

// setAttributes adds per-call span attributes (never metric labels) when the
// span is recording.
func (c *call) setAttributes(kv ...attribute.KeyValue) {
	if c.recording() {
		c.span.SetAttributes(c.p.stab.Attrs(kv)...)
	}
}

// end finishes the call with the error nats.go returned (unchanged). It must
// be called exactly once per successful begin/beginProcess.
//
// A call of begin whose span records on the SDK (it reports its times) and
// has no gate to tell ends its span first, without a timestamp option: the
// span's own end time gives the duration, which the meters then record
// (c.ctx still carries the span, for exemplars). Otherwise naq reads the
// clock, records the meters, tells the gate (whose done may add a
// state-change event to the span) and ends the span at that time: gated
// calls, spans that do not report their times, and the process spans of
// handlers (c.metersFirst), whose ended span is what a watcher waits for
// once the handler's effects are visible, so their meters must be recorded
// by then. Either way the metric duration is the span's.
func (c *call) end(err error) {
	s := c.spec
	if s == nil {
		return
	}
	failed := err != nil && c.p.classify(err)
	var etype string
	if failed {
		etype = errorType(err)
	}
	if c.times != nil && c.done == nil && !c.metersFirst {
		c.endSpan(failed, etype, time.Time{})
		c.record(c.times.EndTime().Sub(c.start), failed, etype)
		return
	}
	now, d := c.elapsed() // a recording span ends at now
	c.record(d, failed, etype)
	if c.done != nil {
		if failed {
			c.done(err, d)
		} else {
			c.done(nil, d)
		}
	}
	c.endSpan(failed, etype, now)
}

// endSpan ends the call's span, with status and error.type when failed,
// at now (zero: the span's own clock).
func (c *call) endSpan(failed bool, etype string, now time.Time) {
	switch {
	case c.rec:
		if failed {
			c.span.SetAttributes(semconv.ErrorTypeKey.String(etype))
			c.span.SetStatus(codes.Error, etype)
		}
		if now.IsZero() {
			c.span.End()
		} else {
			c.span.End(trace.WithTimestamp(now))
		}
	case c.span != nil:
		c.span.End()
	}
}

// record records the call's meters: the duration d and the message count,
// with error.type etype when failed.
func (c *call) record(d time.Duration, failed bool, etype string) {
	if !c.p.metering {
		return
	}
	s := c.spec
	rec, count := s.recOpts, s.count
	if failed {
		mo := s.errorOpts(etype)
		rec, count = mo.rec, mo.count
	}
	if s.hist != nil {
		s.hist.Record(c.ctx, d.Seconds(), rec...)
	}
	count.Add(c.n)
}

// errPanicked is the outcome the gate's done gets for a call that panicked:
// a failure.
var errPanicked = fmt.Errorf("instrument: %w", semconv.ErrPanicked)

// finish ends the call when the function that began it returns. Defer it
// right after a successful begin or beginProcess:
//
//	defer c.finish(&err) // err: the outcome to record; nil errp: no error
//
// When that function panics, finish records the panic (see endPanic) and
// panics again with the same value, so the panic goes on as if nothing had
// stopped it. Otherwise it is end(*errp). It must be the deferred call
// itself (recover works only there). On an inactive call it does nothing and
// leaves a panic alone.
func (c *call) finish(errp *error) {
	if c.spec == nil {
		return
	}
	if r := recover(); r != nil {
		c.endPanic(r)
		panic(r)
	}
	if errp != nil {
		c.end(*errp)
	} else {
		c.end(nil)
	}
}

// endOnPanic guards a call from begin until the wrapper hands it over to be
// ended elsewhere (an ack future, a batch forwarder) or ends it itself:
// deferred directly, it ends the call as panicked and panics again with the
// same value when the function panics, and otherwise does nothing.
func (c *call) endOnPanic() {
	if c.spec == nil {
		return
	}
	if r := recover(); r != nil {
		c.endPanic(r)
		panic(r)
	}
}

// endPanic finishes a call whose function panicked with r, like end with a
// failure of error.type "panic": the histogram and counter get
// error.type=panic, the gate's done gets a failure (which frees a half-open
// probe slot at once), and the span gets an exception event (type, message,
// stack of r), error.type=panic and status Error before it ends. It does not
// panic again itself: its callers do, with r. A panic while recording (a
// telemetry provider's) goes to otel.Handle, so r is what continues.
func (c *call) endPanic(r any) {
	s := c.spec
	if s == nil {
		return
	}
	defer func() {
		if r2 := recover(); r2 != nil {
			otel.Handle(fmt.Errorf("instrument: recording a panic panicked: %v", r2))
		}
	}()
	now, d := c.elapsed()
	if c.p.metering {
		mo := s.errorOpts(semconv.ErrorTypePanic)
		if s.hist != nil {
			s.hist.Record(c.ctx, d.Seconds(), mo.rec...)
		}
		mo.count.Add(c.n)
	}
	if c.done != nil {
		c.done(errPanicked, d)
	}
	if c.span == nil {
		return
	}
	if !c.rec {
		c.span.End()
		return
	}
	c.span.AddEvent(semconv.EventException, trace.WithTimestamp(now), trace.WithAttributes(exceptionAttrs(r)...))
	c.span.SetAttributes(semconv.ErrorTypeKey.String(semconv.ErrorTypePanic))
	c.span.SetStatus(codes.Error, semconv.ErrorTypePanic)
	c.span.End(trace.WithTimestamp(now))
}

// exceptionAttrs describes a panic value: its Go type and the panicking
// goroutine's stack, and its message only for Go runtime errors (an index
// out of range, a nil dereference), whose text is about code. Any other
// panic value may carry data (a payload, a key, a credential) and is named
// by its type alone.
func exceptionAttrs(r any) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.ExceptionTypeKey.String(fmt.Sprintf("%T", r)),
		semconv.ExceptionStacktraceKey.String(string(debug.Stack())),
	}
	if re, ok := r.(runtime.Error); ok {
		attrs = append(attrs, semconv.ExceptionMessageKey.String(re.Error()))
	}
	return attrs
}

// do runs fn as one instrumented call of s and returns its result and error
// unchanged. An inactive (nil or filtered) s, or a nil ctx (which nats.go
// itself rejects or panics on, and must see unchanged), calls fn straight
// through. The call is finished in a defer: a panic of fn is recorded and
// goes on. It is doWith (jsops.go) without per-call attributes.
func do[T any](ctx context.Context, p *pipeline, s *opSpec, fn func(context.Context) (T, error)) (T, error) {
	return doWith(ctx, p, s, attribute.KeyValue{}, nil, fn)
}

// run is do for calls that return only an error.
func run(ctx context.Context, p *pipeline, s *opSpec, fn func(context.Context) error) (err error) {
	if ctx == nil || !s.active() {
		return fn(ctx)
	}
	var c call
	ctx, err = p.begin(ctx, s, &c)
	if err != nil {
		return err
	}
	defer c.finish(&err)
	return fn(ctx)
}
