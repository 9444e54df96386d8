package instrument

import (
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/version"
	"github.com/naq-io/naq/tracing"
)

// ScopeName is the instrumentation scope name of every naq tracer and meter
// (the module path, the same in every naq package): the wrappers' spans and
// their metric data points share it.
const ScopeName = version.ScopeName

// Version is the version of the naq instrument package.
const Version = version.Version

// Filter decides whether a call is instrumented. op is the operation name
// (messaging.operation.name, e.g. "publish", "request", "receive", "process",
// "kv.get", "js.stream.info") and destination the raw subject of core
// publishes and requests, the subscription subject of subscription handlers
// (decided once, at subscribe time) and of [Conn.NextMsg], the message
// subject of [Conn.ProcessMsg], or the stream,
// consumer or bucket name of JetStream and KeyValue calls.
// Return true to instrument the call, false to call nats.go straight through
// with no span, no metric, no gate and no allocation. A Filter is called on
// every call and must be fast and safe for concurrent use.
type Filter func(op, destination string) bool

// ErrorClassifier decides whether an error returned by nats.go is a failure.
// It returns true for a failure: the span gets status Error and error.type,
// the duration metric gets error.type, and the [Gate] sees the error. It
// returns false for an expected miss (a key that does not exist, no keys in
// a bucket): the call is recorded as a success, as redisotel does for
// redis.Nil. Either way the error is returned to the caller unchanged. It is
// never called with a nil error and must be safe for concurrent use.
type ErrorClassifier func(err error) bool

// Option configures the wrappers ([NewConn] and the JetStream and KeyValue
// wrappers). Options never fail; a nil value is ignored and the default
// stays in place.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	tp           trace.TracerProvider
	mp           metric.MeterProvider
	propagators  propagation.TextMapPropagator
	namer        tracing.SubjectNamer
	maxTemplates int
	filter       Filter
	classifier   ErrorClassifier
	gate         *circuit.Gate
	connName     string
	kvKeys       bool
	tracker      func(sub *nats.Subscription, destination string) (untrack func())
	serverTrace  serverTrace
}

// newConfig applies opts over the defaults, reading the otel globals now.
func newConfig(opts []Option) config {
	c := config{maxTemplates: tracing.DefaultMaxTemplates}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.propagators == nil {
		c.propagators = otel.GetTextMapPropagator()
	}
	if c.namer == nil {
		c.namer = tracing.DefaultSubjectNamer
	}
	if c.classifier == nil {
		c.classifier = DefaultErrorClassifier
	}
	return c
}

// WithTracerProvider sets the TracerProvider spans are created with.
// Default: the global TracerProvider when the wrapper is built. A nil tp is
// ignored. A noop TracerProvider (go.opentelemetry.io/otel/trace/noop)
// switches span creation off entirely; metrics are still recorded.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// WithMeterProvider sets the MeterProvider the messaging instruments are
// created on. Default: the global MeterProvider when the wrapper is built. A
// nil mp is ignored. A noop MeterProvider (go.opentelemetry.io/otel/metric/noop)
// switches metric recording off; spans are still created.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	})
}

// WithPropagators sets the propagator that injects the trace context into
// published message headers and extracts it from delivered ones. Default:
// the global propagator when the wrapper is built. A nil p is ignored.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.propagators = p
		}
	})
}

// WithSubjectNamer sets the hook that maps a subject to its destination
// template (span names, messaging.destination.name/template and metric
// labels). Default: [tracing.DefaultSubjectNamer]. Whatever the namer, a
// wrapper keeps at most [tracing.DefaultMaxTemplates] distinct templates
// ([WithMaxTemplates]);
// further ones are recorded as [tracing.OverflowTemplate]. A nil n is
// ignored. See also [WithMaxTemplates].
func WithSubjectNamer(n tracing.SubjectNamer) Option {
	return optionFunc(func(c *config) {
		if n != nil {
			c.namer = n
		}
	})
}

// WithMaxTemplates sets how many distinct destination templates one wrapper
// records before it maps new ones to [tracing.OverflowTemplate], bounding the
// series of every metric. The same cap applies, each kind on its own, to
// every other name that becomes a metric label: stream names, KeyValue
// bucket names, ObjectStore bucket names, and consumer groups (durable
// names and queue groups). A capped name is "_OTHER" on metrics, in span
// names and in the gate's breaker key; the span keeps the real name in its
// attribute and a [Filter] sees the real name. Wrappers handed out by a
// wrapper (a Stream, Consumer, KeyValue or ObjectStore of a JetStream) share
// its caps. Default: [tracing.DefaultMaxTemplates]. A value below 1 is
// ignored.
func WithMaxTemplates(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxTemplates = n
		}
	})
}

// WithFilter sets a [Filter]; calls it rejects go straight to nats.go.
// Default: every call is instrumented. A nil f is ignored.
func WithFilter(f Filter) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.filter = f
		}
	})
}

// WithErrorClassifier sets the [ErrorClassifier]. Default:
// [DefaultErrorClassifier]. A nil f is ignored.
func WithErrorClassifier(f ErrorClassifier) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.classifier = f
		}
	})
}

// WithGate puts g in front of the calls that wait for an answer: core
// requests ("request" family, by subject template), JetStream publishes
// ("js.publish", by subject template) and API calls ("js", by stream or
// bucket name), KeyValue calls ("kv", by bucket) and connect attempts
// ([Connect]: the gate's connect breaker). A rejected call is not made: it
// returns the gate's *circuit.OpenError (errors.Is(err, circuit.ErrOpen))
// and is recorded with error.type=circuit_open. Otherwise the call's
// outcome and duration are reported to the destination's breaker (an
// expected miss, per the [ErrorClassifier], as a success).
//
// Never gated: core publishes (nats.go buffers them while it reconnects),
// receives (Fetch, Next, NextMsg: waiting is their job), settles (ack, nak,
// term, in-progress) and message processing. Default: no gate. A nil g is
// ignored. Share one gate between every wrapper of one connection: the
// wrappers make it watch their connection's status events
// (circuit.Gate.Watch), which drives its connection-health layer.
func WithGate(g *circuit.Gate) Option {
	return optionFunc(func(c *config) {
		if g != nil {
			c.gate = g
		}
	})
}

// WithConnectionName sets the nats.connection.name attribute on spans and
// metrics. Default: the connection's client name (nats.Name option), or no
// attribute when that is empty. An empty name is ignored.
func WithConnectionName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.connName = name
		}
	})
}

// WithKVKeys records KeyValue keys as the span attribute
// messaging.nats.kv.key when on. Default: off, because keys may carry
// personal data. Keys never become metric labels, and values are never
// recorded.
func WithKVKeys(on bool) Option {
	return optionFunc(func(c *config) { c.kvKeys = on })
}

// WithSubscriptionTracker makes [Conn] hand every subscription it creates
// (Subscribe, QueueSubscribe, SubscribeContext, QueueSubscribeContext,
// ChanSubscribe, ChanQueueSubscribe, SubscribeSync, QueueSubscribeSync) to
// track, with the subscription subject's destination template (the same one
// its spans and metrics use, never a raw subject or reply inbox), so that
// its pending and dropped messages are reported; pass the Track method of
// the connection's metrics.Observer (nats.client.subscription.pending and
// .dropped). The untrack func track returns (nil: nothing to undo) is
// called once, from the subscription's closed handler, when the
// subscription is unsubscribed, drained or its connection closes; replacing
// that handler with Subscription.SetClosedHandler skips the call (a
// metrics.Observer then drops the subscription by itself once it is no
// longer valid). A subscription the [Filter] rejects (op "process", or
// "receive" for the synchronous ones, with the raw subject) is not tracked.
// track is called on the subscribing goroutine and must be safe for
// concurrent use; a panic in it goes to otel.Handle. Default for [NewConn]
// with metrics on: the Track method of the connection's metrics.Observer
// (see [NewConn]); with metrics off, none, and the subscription's closed
// handler is left alone. A nil track is ignored. The JetStream and KeyValue
// wrappers ignore it.
func WithSubscriptionTracker(track func(sub *nats.Subscription, destination string) (untrack func())) Option {
	return optionFunc(func(c *config) {
		if track != nil {
			c.tracker = track
		}
	})
}

// ServerTrace asks nats-server (2.11 or later) to trace sampled messages
// through the servers they cross; see [WithServerTrace].
type ServerTrace struct {
	// Dest is the subject the servers publish their trace events to: the
	// value of the Nats-Trace-Dest header (tracing.TraceDestHeader). A
	// tracing.HopCollector subscribed to it turns the events into spans.
	// It must be a valid subject without wildcards, and the publishing
	// user must be allowed to publish to it: nats-server drops a traced
	// message whose sender may not publish to its trace destination.
	Dest string
	// Ratio is the fraction of sampled publishes to trace, chosen by trace
	// id (tracing.TraceIDRatio), so a trace is traced through the servers
	// whole or not at all. A value outside (0, 1), the zero value
	// included, traces every sampled publish.
	Ratio float64
}

// traceDestHeader is the header WithServerTrace adds.
const traceDestHeader = tracing.TraceDestHeader

// serverTrace is a validated ServerTrace, ready for the pipeline.
type serverTrace struct {
	dest  []string // the header value, shared read-only by every message
	ratio float64
}

// WithServerTrace makes sampled publishes ask the NATS servers for their
// hops: core publishes and requests and JetStream publishes (sync and
// async, new and legacy API) whose span is sampled carry a Nats-Trace-Dest
// header with st.Dest on the message sent (never on the caller's message),
// and every server the message crosses publishes a trace event (ingress,
// subject mapping, imports and exports, JetStream store, egress, with its
// timestamps) to st.Dest, while delivering the message as usual. Run a
// tracing.HopCollector on st.Dest to turn the events into spans of the
// publish's trace.
//
// Unsampled publishes never carry the header. The header follows the trace
// context's rules: it is left out with it when the server does not support
// headers, and when the headers together would push the message past
// max_payload (the message then goes out as raw nats.go sends it). A
// message whose header already names a trace destination keeps it.
//
// Alternatively, without this option: an account's msg_trace (dest and
// sampling) in the server config makes nats-server trace every message
// that carries a sampled traceparent, which naq injects on every sampled
// publish; run the collector on that dest.
//
// Default: off. An empty Dest, or one with spaces or wildcards, is
// ignored. The server's extra work is one event per traced message per
// server: bound it with the sampler and st.Ratio.
func WithServerTrace(st ServerTrace) Option {
	return optionFunc(func(c *config) {
		if !validTraceDest(st.Dest) {
			return
		}
		r := st.Ratio
		if !(r > 0 && r < 1) {
			r = 1
		}
		c.serverTrace = serverTrace{dest: []string{st.Dest}, ratio: r}
	})
}

// validTraceDest reports whether dest is a subject nats-server accepts as a
// trace destination: non-empty tokens, no white space, no wildcards.
func validTraceDest(dest string) bool {
	if dest == "" || strings.ContainsAny(dest, " \t\r\n") {
		return false
	}
	for tok := range strings.SplitSeq(dest, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}
