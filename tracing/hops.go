package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/naq-io/naq/internal/semconv"
)

// Bounds of a [HopCollector].
const (
	// DefaultHopEventsPerSecond is the default cap on the trace events a
	// HopCollector handles per second (a token bucket with a burst of the
	// same size); see [WithHopRateLimit].
	DefaultHopEventsPerSecond = 100
	// MaxHopSpansPerEvent is the most spans one trace event becomes: a
	// message fanned out to thousands of subscriptions makes one event with
	// thousands of egress hops. Further hops are counted in
	// [HopStats].Truncated.
	MaxHopSpansPerEvent = 64
	// hopPendingMsgs and hopPendingBytes are the pending limits of the
	// collector's subscription: beyond them nats.go drops events (counted
	// in HopStats.SlowConsumer) instead of buffering without bound.
	hopPendingMsgs  = 1024
	hopPendingBytes = 8 << 20
	// maxHopEventSize bounds a decompressed event.
	maxHopEventSize = 8 << 20
	// maxHopErrorLen bounds the server error text put on a span status.
	maxHopErrorLen = 256
)

// HopOption configures [NewHopCollector]. Every [Option] is a HopOption
// (WithTracerProvider, WithPropagators and WithSubjectNamer apply to the
// collector too); the WithHop* options apply to the collector only.
type HopOption interface {
	applyHop(*hopConfig)
}

type hopConfig struct {
	config
	ratio        float64
	perSecond    float64
	burst        int
	maxTemplates int
}

func (f optionFunc) applyHop(c *hopConfig) { f(&c.config) }

type hopOptionFunc func(*hopConfig)

func (f hopOptionFunc) applyHop(c *hopConfig) { f(c) }

// WithHopSampling keeps the events of a fraction ratio of traces, chosen by
// trace id ([TraceIDRatio]), so every hop of a kept trace is kept, on every
// server. Default 1 (every event whose message carries a sampled trace
// context). ratio is clamped to [0, 1]; NaN is ignored.
func WithHopSampling(ratio float64) HopOption {
	return hopOptionFunc(func(c *hopConfig) {
		if !math.IsNaN(ratio) {
			c.ratio = min(max(ratio, 0), 1)
		}
	})
}

// WithHopRateLimit caps the events the collector handles: a token bucket of
// perSecond events per second and a burst of burst events. Events over the
// cap are dropped before they are parsed and counted in
// [HopStats].RateLimited. Default [DefaultHopEventsPerSecond] per second,
// burst the same. A perSecond of +Inf removes the cap; a perSecond that is
// not positive (or NaN) is ignored. A burst below 1 means perSecond
// (rounded up).
func WithHopRateLimit(perSecond float64, burst int) HopOption {
	return hopOptionFunc(func(c *hopConfig) {
		if perSecond > 0 {
			c.perSecond, c.burst = perSecond, burst
		}
	})
}

// WithHopMaxTemplates sets how many distinct subject templates (and,
// separately, stream names) the collector's span names use before it names
// further ones [OverflowTemplate]. Default [DefaultMaxTemplates]. A value
// below 1 is ignored.
func WithHopMaxTemplates(n int) HopOption {
	return hopOptionFunc(func(c *hopConfig) {
		if n > 0 {
			c.maxTemplates = n
		}
	})
}

// TraceIDRatio reports whether the trace id falls in the fraction ratio of
// trace ids, the way the OpenTelemetry SDK's TraceIDRatioBased sampler
// decides: deterministic, so every decision taken on the same trace id with
// the same ratio agrees (a publisher and a [HopCollector] keep the same
// traces). ratio >= 1 keeps every trace, ratio <= 0 (or NaN) none.
func TraceIDRatio(id trace.TraceID, ratio float64) bool {
	if ratio >= 1 {
		return true
	}
	if !(ratio > 0) {
		return false
	}
	bound := uint64(ratio * (1 << 63))
	return binary.BigEndian.Uint64(id[8:16])>>1 < bound
}

// HopStats counts what a [HopCollector] did with the trace events it got.
// Received = Collected + RateLimited + Malformed + NoParent + SampledOut.
type HopStats struct {
	// Received is the number of trace events the collector's subscription
	// delivered.
	Received uint64
	// Collected is the number of events turned into spans.
	Collected uint64
	// Spans is the number of hop spans those events made.
	Spans uint64
	// RateLimited: dropped by the events-per-second cap, unparsed.
	RateLimited uint64
	// Malformed: dropped because they are not a trace event (not JSON of
	// the event's shape, an unknown content encoding, no server, no
	// ingress hop, a hop without a timestamp).
	Malformed uint64
	// NoParent: dropped because the traced message carried no valid,
	// sampled trace context to parent the spans (a message traced by hand,
	// with a Nats-Trace-Dest header and no traceparent).
	NoParent uint64
	// SampledOut: left out by the sampling ratio ([WithHopSampling]); not
	// counted in Dropped.
	SampledOut uint64
	// Truncated: hops beyond [MaxHopSpansPerEvent] of an event, not turned
	// into spans.
	Truncated uint64
	// SlowConsumer: events nats.go dropped before the collector saw them,
	// because it fell more than 1024 events (or 8 MiB) behind.
	SlowConsumer uint64
}

// Dropped is the number of events lost against the collector's will or
// bounds: RateLimited + Malformed + NoParent + SlowConsumer.
func (s HopStats) Dropped() uint64 {
	return s.RateLimited + s.Malformed + s.NoParent + s.SlowConsumer
}

// HopCollector turns nats-server trace events into spans of the traces of
// the messages they describe. Create it with [NewHopCollector]; it is safe
// for concurrent use.
//
// Each hop of an event becomes an INTERNAL span "<hop> <destination>", a
// child of the span whose context the traced message carried in its
// traceparent header (the publish span), with the server's timestamps:
//
//   - ingress <subject template>: the instant the server read the message
//     (start = end = the hop's timestamp);
//   - subject_mapping, service_import, stream_export <subject template
//     after the step>, and egress <subscription template> (or the message's
//     subject template when it goes to a route, gateway or leaf node): from
//     the server's previous step to this one, so on one server the spans
//     follow each other without overlap;
//   - jetstream <stream>: from the step before the server handed the
//     message to the stream (usually the ingress) to the moment the stream
//     accepted it for storage (after replication, on a replicated stream).
//     The stream works on its own goroutine, so later egress hops are timed
//     from the step before it, not from it.
//
// Attributes: messaging.system, nats.server.name (and .id, .cluster),
// nats.hop.type, messaging.destination.name/template (subject hops) or
// messaging.nats.stream (jetstream), nats.hop.connection.kind and .name
// (ingress, egress), nats.hop.account, nats.hop.id (the id pairing a
// route's egress with the next server's ingress),
// messaging.consumer.group.name (an egress to a queue subscription),
// nats.hop.stream.no_interest. With OTEL_SEMCONV_STABILITY_OPT_IN=messaging
// (read by [NewHopCollector]) messaging.system.name and nats.stream replace
// messaging.system and messaging.nats.stream; with messaging/dup the spans
// carry both. A hop that failed has status Error with the server's reason.
// Payloads, headers and reply inboxes are never recorded: a subject under
// _INBOX. is always named "_INBOX".
type HopCollector struct {
	sub     *nats.Subscription
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	namer   SubjectNamer // user namer behind LimitTemplates
	streams SubjectNamer // stream names behind their own cap
	names   hopNames     // the names the semconv stability opt-in renames
	ratio   float64
	limiter *rate.Limiter

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stopCtx   func() bool

	received, collected, spans        atomic.Uint64
	rateLimited, malformed, noParent  atomic.Uint64
	sampledOut, truncated, slowAtStop atomic.Uint64
}

// errNilConn is returned by NewHopCollector for a nil connection.
var errNilConn = errors.New("tracing: NewHopCollector: nil *nats.Conn")

// NewHopCollector subscribes to subject on nc (the trace destination: the
// value of the [TraceDestHeader] header the publishers set, or the dest of
// an account's msg_trace) and turns every trace event it receives into hop
// spans (see [HopCollector]). It stops, unsubscribing, when Close is called
// or ctx ends. The error is nats.go's subscribe error (an invalid subject,
// a closed connection), or an error for a nil nc.
//
// Options: WithTracerProvider (default: the global TracerProvider, read
// now), WithPropagators (to read the traceparent of the traced message;
// default the global propagator, read now), WithSubjectNamer (default
// [DefaultSubjectNamer]), [WithHopSampling], [WithHopRateLimit],
// [WithHopMaxTemplates].
//
// OTEL_SEMCONV_STABILITY_OPT_IN is read now, as the instrument wrappers
// read it when they are built (see [HopCollector] for the names it
// switches); a later change of the variable does not affect the collector.
//
// nc needs no naq instrumentation; the collector's own subscription is
// never traced. Events come from nats-server 2.11 or later; older servers
// ignore the trace header and send none.
func NewHopCollector(ctx context.Context, nc *nats.Conn, subject string, opts ...HopOption) (*HopCollector, error) {
	if nc == nil {
		return nil, errNilConn
	}
	if ctx == nil {
		ctx = context.Background()
	}
	hc := hopConfig{ratio: 1, perSecond: DefaultHopEventsPerSecond, maxTemplates: DefaultMaxTemplates}
	for _, o := range opts {
		if o != nil {
			o.applyHop(&hc)
		}
	}
	if hc.propagators == nil {
		hc.propagators = otel.GetTextMapPropagator()
	}
	if hc.tp == nil {
		hc.tp = otel.GetTracerProvider()
	}
	burst := hc.burst
	if burst < 1 {
		burst = int(min(math.Ceil(hc.perSecond), math.MaxInt32))
	}
	c := &HopCollector{
		tracer: hc.tp.Tracer(ScopeName,
			trace.WithInstrumentationVersion(Version),
			trace.WithSchemaURL(semconv.SchemaURL)),
		prop:    hc.propagators,
		namer:   LimitTemplates(hc.namer, hc.maxTemplates),
		streams: LimitTemplates(func(s string) string { return s }, hc.maxTemplates),
		names:   newHopNames(semconv.StabilityFromEnv()),
		ratio:   hc.ratio,
		limiter: rate.NewLimiter(rate.Limit(hc.perSecond), burst),
	}
	if math.IsInf(hc.perSecond, 1) {
		c.limiter = rate.NewLimiter(rate.Inf, 0)
	}
	sub, err := nc.Subscribe(subject, c.handle)
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(hopPendingMsgs, hopPendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	c.sub = sub
	c.stopCtx = context.AfterFunc(ctx, func() { _ = c.Close() })
	return c, nil
}

// Close unsubscribes; no span is started after it returns, except by an
// event already being handled. It returns nats.go's unsubscribe error,
// except when the connection or subscription is already closed. Calling it
// again returns the same error.
func (c *HopCollector) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.stopCtx != nil {
			c.stopCtx()
		}
		if n, err := c.sub.Dropped(); err == nil && n > 0 {
			c.slowAtStop.Store(uint64(n))
		}
		err := c.sub.Unsubscribe()
		if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			c.closeErr = err
		}
	})
	return c.closeErr
}

// Stats returns the collector's counts so far: a snapshot, whose counts
// keep moving while events arrive. An event is counted in Received once
// its outcome is counted (and its spans have ended), so a snapshot never
// shows an event received with no outcome.
func (c *HopCollector) Stats() HopStats {
	received := c.received.Load() // first: see handle
	s := HopStats{
		Received:    received,
		Collected:   c.collected.Load(),
		Spans:       c.spans.Load(),
		RateLimited: c.rateLimited.Load(),
		Malformed:   c.malformed.Load(),
		NoParent:    c.noParent.Load(),
		SampledOut:  c.sampledOut.Load(),
		Truncated:   c.truncated.Load(),
		// SlowConsumer: the subscription's count while it runs, the last
		// one seen at Close after that.
		SlowConsumer: c.slowAtStop.Load(),
	}
	if !c.closed.Load() {
		if n, err := c.sub.Dropped(); err == nil && n > 0 {
			s.SlowConsumer = uint64(n)
		}
	}
	return s
}

// handle is the subscription's callback: it runs on nats.go's delivery
// goroutine for the subscription and takes no lock of naq's (the rate
// limiter's own, briefly).
func (c *HopCollector) handle(m *nats.Msg) {
	if c.closed.Load() {
		return
	}
	// Counted last, after the event's outcome: a Stats that sees an event
	// received sees what became of it.
	defer c.received.Add(1)
	if !c.limiter.Allow() {
		c.rateLimited.Add(1)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			otel.Handle(fmt.Errorf("tracing: HopCollector: handling a trace event panicked: %v", r))
		}
	}()
	data, err := decodeHopEvent(m)
	if err != nil {
		c.malformed.Add(1)
		return
	}
	ev, err := parseHopEvent(data)
	if err != nil {
		c.malformed.Add(1)
		return
	}
	pctx := NewPropagator(c.prop).Extract(context.Background(), ev.Request.Header)
	psc := trace.SpanContextFromContext(pctx)
	if !psc.IsValid() || !psc.IsSampled() {
		c.noParent.Add(1)
		return
	}
	if !TraceIDRatio(psc.TraceID(), c.ratio) {
		c.sampledOut.Add(1)
		return
	}
	c.emit(pctx, ev)
	c.collected.Add(1)
}

// decodeHopEvent returns the JSON of m: as is, or decompressed when the
// server compressed it (it does when the traced message had an
// Accept-Encoding header naming gzip or snappy).
func decodeHopEvent(m *nats.Msg) ([]byte, error) {
	enc := ""
	if m.Header != nil {
		enc = strings.ToLower(HeaderCarrier(m.Header).Get("Content-Encoding"))
	}
	var r io.Reader
	switch enc {
	case "", "identity":
		return m.Data, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(m.Data))
		if err != nil {
			return nil, err
		}
		r = zr
	case "snappy":
		r = s2.NewReader(bytes.NewReader(m.Data))
	default:
		return nil, fmt.Errorf("tracing: unknown content encoding %q", enc)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxHopEventSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxHopEventSize {
		return nil, errors.New("tracing: decompressed trace event too large")
	}
	return b, nil
}

// emit starts and ends one span per hop of ev (at most
// MaxHopSpansPerEvent) under the parent in pctx.
func (c *HopCollector) emit(pctx context.Context, ev *hopEvent) {
	// Room for messaging.system under both names (messaging/dup), the
	// server name, id and cluster; a constant size keeps it on the stack.
	server := make([]attribute.KeyValue, 0, 5)
	server = append(server, c.names.system...)
	server = append(server, semconv.NATSServerNameKey.String(ev.Server.Name))
	if ev.Server.ID != "" && ev.Server.ID != ev.Server.Name {
		server = append(server, semconv.NATSServerIDKey.String(ev.Server.ID))
	}
	if ev.Server.Cluster != "" {
		server = append(server, semconv.NATSServerClusterKey.String(ev.Server.Cluster))
	}

	subject := ev.Hops[0].Subject // the message's subject as it goes (after mappings)
	prev := ev.Hops[0].Timestamp  // the server's last step on its read loop
	attrs := make([]attribute.KeyValue, 0, len(server)+8)
	var n int
	for i := range ev.Hops {
		h := &ev.Hops[i]
		if !h.known() {
			continue
		}
		if n == MaxHopSpansPerEvent {
			c.truncated.Add(1)
			continue
		}
		attrs = append(attrs[:0], server...)
		var hop, dest string
		start, end := prev, h.Timestamp
		switch h.Type {
		case hopTypeIngress:
			hop, dest = semconv.HopIngress, c.subject(h.Subject)
			start = end
			attrs = connAttrs(attrs, h)
			if id := HeaderCarrier(ev.Request.Header).Get(traceHopHeader); id != "" {
				attrs = append(attrs, semconv.NATSHopIDKey.String(id))
			}
		case hopTypeSubjectMapping:
			hop, dest = semconv.HopSubjectMapping, c.subject(h.To)
			subject = h.To
		case hopTypeServiceImport:
			hop, dest = semconv.HopServiceImport, c.subject(h.To)
			subject = h.To
		case hopTypeStreamExport:
			hop, dest = semconv.HopStreamExport, c.subject(h.To)
		case hopTypeJetStream:
			hop, dest = semconv.HopJetStream, c.stream(h.Stream)
			for _, k := range c.names.stream {
				attrs = append(attrs, k.String(dest))
			}
			if h.NoInterest {
				attrs = append(attrs, semconv.NATSHopNoInterestKey.Bool(true))
			}
		case hopTypeEgress:
			hop = semconv.HopEgress
			if h.Subscription != "" {
				dest = c.subject(h.Subscription)
			} else {
				dest = c.subject(subject)
			}
			attrs = connAttrs(attrs, h)
			if h.HopID != "" {
				attrs = append(attrs, semconv.NATSHopIDKey.String(h.HopID))
			}
			if h.Queue != "" {
				attrs = append(attrs, semconv.MessagingConsumerGroupNameKey.String(h.Queue))
			}
		}
		if h.Type != hopTypeJetStream && dest != "" {
			attrs = append(attrs,
				semconv.MessagingDestinationNameKey.String(dest),
				semconv.MessagingDestinationTemplateKey.String(dest))
		}
		if h.Account != "" {
			attrs = append(attrs, semconv.NATSHopAccountKey.String(h.Account))
		}
		attrs = append(attrs, semconv.NATSHopTypeKey.String(hop))
		if start.After(end) {
			start = end
		}
		c.span(pctx, SpanName(hop, dest), start, end, attrs, h.Error)
		n++
		if h.Type != hopTypeJetStream && end.After(prev) {
			prev = end
		}
	}
	c.spans.Add(uint64(n))
}

// hopNames are the attributes of hop spans that the semconv stability
// opt-in renames, as the mode read by NewHopCollector emits them.
type hopNames struct {
	system []attribute.KeyValue // messaging.system=nats, renamed or doubled
	stream []attribute.Key      // the key(s) of a jetstream hop's stream
}

// newHopNames resolves the renamed hop attributes under s, through
// semconv.Stability.Attrs (the mapping the instrument pipeline uses).
func newHopNames(s semconv.Stability) hopNames {
	stream := s.Attrs([]attribute.KeyValue{semconv.NATSStreamKey.String("")})
	keys := make([]attribute.Key, len(stream))
	for i, kv := range stream {
		keys[i] = kv.Key
	}
	return hopNames{system: s.Attrs([]attribute.KeyValue{semconv.System}), stream: keys}
}

// span starts and ends one hop span.
func (c *HopCollector) span(pctx context.Context, name string, start, end time.Time, attrs []attribute.KeyValue, errText string) {
	_, s := c.tracer.Start(pctx, name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(start),
		trace.WithAttributes(attrs...))
	if errText != "" {
		s.SetStatus(codes.Error, hopErrorText(errText))
	}
	s.End(trace.WithTimestamp(end))
}

// connAttrs adds the connection of an ingress or egress hop.
func connAttrs(attrs []attribute.KeyValue, h *eventHop) []attribute.KeyValue {
	attrs = append(attrs, semconv.NATSHopConnKindKey.String(h.Kind.String()))
	if h.Name != "" {
		attrs = append(attrs, semconv.NATSHopConnNameKey.String(h.Name))
	}
	return attrs
}

// subject returns the template of a subject of a hop: "_INBOX" for any
// reply inbox whatever the namer, else the capped namer's template. A
// panicking namer is reported to otel.Handle and yields OverflowTemplate.
func (c *HopCollector) subject(s string) (tmpl string) {
	if s == "" {
		return ""
	}
	if s == InboxTemplate || strings.HasPrefix(s, InboxTemplate+".") {
		return InboxTemplate
	}
	defer func() {
		if r := recover(); r != nil {
			otel.Handle(fmt.Errorf("tracing: HopCollector: SubjectNamer panicked: %v", r))
			tmpl = OverflowTemplate
		}
	}()
	return c.namer(s)
}

// stream returns the capped stream name.
func (c *HopCollector) stream(s string) string {
	if s == "" {
		return ""
	}
	return c.streams(s)
}

// hopErrorText is the server's error text for a span status, bounded, with
// any reply inbox it names replaced by "_INBOX".
func hopErrorText(s string) string {
	if len(s) > maxHopErrorLen {
		s = s[:maxHopErrorLen]
	}
	const inbox = InboxTemplate + "."
	if !strings.Contains(s, inbox) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, inbox)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len(InboxTemplate)])
		s = s[i+len(inbox):]
		// Skip the rest of the subject: up to a space or a quote.
		j := strings.IndexAny(s, " \"'\t\r\n")
		if j < 0 {
			return b.String()
		}
		s = s[j:]
	}
}
