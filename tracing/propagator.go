package tracing

import (
	"context"
	"reflect"
	"strings"
	"unsafe"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Header keys of the W3C trace context and baggage, as they are written.
const (
	traceparentKey = "traceparent"
	tracestateKey  = "tracestate"
	baggageKey     = "baggage"
)

// Propagator carries trace context through NATS headers with one
// propagation.TextMapPropagator, examined once when the Propagator is made.
// It is the one propagation implementation of naq: the instrument wrappers
// build one per wrapper, and [Inject], [Extract], [ExtractHeader],
// [LinkFromHeader], [Links] and [StartProcess] use one built from their
// options.
//
// When the propagator is W3C trace context (propagation.TraceContext), alone
// or in a composite with propagation.Baggage (what otel's autoprop and most
// setups use), Inject formats the traceparent (and tracestate, when there
// is one) straight into the header instead of going through the
// TextMapCarrier interface, and Extract skips the baggage lookup when the
// header has no baggage key: same header, same context, less work. Any
// other propagator, and any non-empty baggage to inject, takes the generic
// TextMapPropagator path with a [HeaderCarrier].
//
// The zero Propagator uses the global propagator (otel.GetTextMapPropagator)
// at each call. A Propagator is immutable and safe for concurrent use.
type Propagator struct {
	tm   propagation.TextMapPropagator // nil: the global one at call time
	mode w3cMode
}

// w3cMode is what a propagator is known to do.
type w3cMode uint8

const (
	generic    w3cMode = iota // anything: the TextMapPropagator path
	w3cOnly                   // W3C trace context alone
	w3cBaggage                // W3C trace context and W3C baggage
)

// NewPropagator returns the Propagator of p. A nil p means the global
// propagator at each call (the zero Propagator).
func NewPropagator(p propagation.TextMapPropagator) Propagator {
	if p == nil {
		return Propagator{}
	}
	tc, bag, ok := classify(p)
	switch {
	case !ok || !tc:
		return Propagator{tm: p, mode: generic}
	case bag:
		return Propagator{tm: p, mode: w3cBaggage}
	}
	return Propagator{tm: p, mode: w3cOnly}
}

// compositeType is the type of propagation.NewCompositeTextMapPropagator's
// result, whose members classify reads.
var compositeType = reflect.TypeOf(propagation.NewCompositeTextMapPropagator())

// classify reports whether p injects W3C trace context (tc) and W3C baggage
// (bag) and nothing else (ok).
func classify(p propagation.TextMapPropagator) (tc, bag, ok bool) {
	switch p.(type) {
	case propagation.TraceContext, *propagation.TraceContext:
		return true, false, true
	case propagation.Baggage, *propagation.Baggage:
		return false, true, true
	}
	v := reflect.ValueOf(p)
	if v.Type() != compositeType {
		return false, false, false
	}
	for i := range v.Len() {
		m, isProp := v.Index(i).Interface().(propagation.TextMapPropagator)
		if !isProp || m == nil {
			return false, false, false
		}
		t, b, known := classify(m)
		if !known {
			return false, false, false
		}
		tc, bag = tc || t, bag || b
	}
	return tc, bag, true
}

// textMap returns the propagator p uses now.
func (p Propagator) textMap() propagation.TextMapPropagator {
	if p.tm == nil {
		return otel.GetTextMapPropagator()
	}
	return p.tm
}

// Fields returns the header keys the propagator writes.
func (p Propagator) Fields() []string { return p.textMap().Fields() }

// NeedsInject reports whether ctx carries anything to inject: a valid span
// context or baggage. Callers use it to leave a message without a header
// when there is nothing to propagate.
func NeedsInject(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid() || baggage.FromContext(ctx).Len() > 0
}

// Inject writes the trace context (and baggage, depending on the
// propagator) of ctx into h with lower-case keys, replacing any
// other-cased copy of a key it writes, as [HeaderCarrier] does. h must not
// be nil when there is something to write (see [NeedsInject]); a nil h is
// left alone. Values already in h are replaced, never appended to or
// written in place, so a value slice shared with another header is safe.
func (p Propagator) Inject(ctx context.Context, h nats.Header) {
	p.InjectBuffered(ctx, trace.SpanContextFromContext(ctx), h, nil)
}

// TraceparentBuffer is memory for one traceparent header value, reused by
// [Propagator.InjectBuffered] instead of allocating one per message. Its
// zero value is ready to use. It must not be copied after first use.
type TraceparentBuffer struct {
	v traceparentValue
}

// InjectBuffered is [Propagator.Inject] formatting a W3C traceparent into
// buf instead of new memory (a nil buf: new memory). The header value then
// refers to buf: it is valid only until buf is used again. Use it for a
// header that is encoded and dropped before that, such as the header of a
// pooled message that nats.go encodes within PublishMsg or RequestMsg and
// keeps no reference to, with one buffer per pooled message. The generic
// path does not use buf.
//
// sc is the span context of ctx (trace.SpanContextFromContext(ctx)), which a
// caller that has just started a span, or has checked [NeedsInject], holds
// already: the per-message path reads the context once. Passing another
// span context injects that one, on every path.
func (p Propagator) InjectBuffered(ctx context.Context, sc trace.SpanContext, h nats.Header, buf *TraceparentBuffer) {
	if h == nil {
		return
	}
	if p.mode != generic {
		if p.mode == w3cOnly || baggage.FromContext(ctx).Len() == 0 {
			if sc.IsValid() {
				injectW3C(sc, h, buf)
			}
			return
		}
	}
	if !sc.Equal(trace.SpanContextFromContext(ctx)) {
		ctx = trace.ContextWithSpanContext(ctx, sc)
	}
	p.textMap().Inject(ctx, HeaderCarrier(h))
}

// injectW3C writes what propagation.TraceContext.Inject writes for the
// valid span context sc, the traceparent into buf (nil: new memory).
func injectW3C(sc trace.SpanContext, h nats.Header, buf *TraceparentBuffer) {
	if ts := sc.TraceState().String(); ts != "" {
		setLower(h, tracestateKey, []string{ts})
	}
	var v *traceparentValue
	if buf != nil {
		v = &buf.v
	} else {
		v = new(traceparentValue)
	}
	setLower(h, traceparentKey, v.format(sc))
}

// traceparentValue is a header value holding one traceparent, in one piece
// of memory: the value slice points at s, and s at b.
type traceparentValue struct {
	s [1]string
	b [traceparentLen]byte
}

// traceparentLen is the length of a version-00 traceparent:
// "00-" trace-id(32) "-" span-id(16) "-" flags(2).
const traceparentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2

const hexDigits = "0123456789abcdef"

// format writes sc's traceparent into v, formatted as
// propagation.TraceContext formats it (version 00, lower-case hex, only the
// sampled and random flags), and returns v as a header value.
func (v *traceparentValue) format(sc trace.SpanContext) []string {
	b := v.b[:]
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	i := 3
	for _, c := range tid {
		b[i], b[i+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		i += 2
	}
	b[i] = '-'
	i++
	for _, c := range sid {
		b[i], b[i+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		i += 2
	}
	flags := byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))
	b[i], b[i+1], b[i+2] = '-', hexDigits[flags>>4], hexDigits[flags&0x0f]
	// The string shares b's memory (and keeps v alive while the header
	// holds it). b is written again only when v is a TraceparentBuffer
	// used again, after which (InjectBuffered's contract) nothing reads the
	// old value.
	v.s[0] = unsafe.String(&v.b[0], traceparentLen)
	return v.s[:1:1]
}

// setLower stores v under the lower-case key k (k must be lower case),
// removing copies of k spelled with another case: HeaderCarrier.Set.
func setLower(h nats.Header, k string, v []string) {
	if len(h) > 0 {
		for hk := range h {
			if hk != k && strings.EqualFold(hk, k) {
				delete(h, hk)
			}
		}
	}
	h[k] = v
}

// Extract returns ctx enriched with the trace context (and baggage) found
// in h, whatever the case of the header keys. An empty h returns ctx.
func (p Propagator) Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	if p.mode != generic {
		// Every key of h spelled exactly as the propagators read it (a
		// producer's header is typically {traceparent}): no other spelling
		// can match, so plain lookups decide, with no walk over the keys.
		tpv, hasTP := h[traceparentKey]
		tsv, hasTS := h[tracestateKey]
		_, hasBag := h[baggageKey]
		exact := 0
		for _, has := range [...]bool{hasTP, hasTS, hasBag} {
			if has {
				exact++
			}
		}
		switch {
		case exact == len(h) && (p.mode == w3cOnly || !hasBag):
			if sc := parseTraceparent(first(tpv), first(tsv)); sc.IsValid() {
				return trace.ContextWithRemoteSpanContext(ctx, sc)
			}
			return ctx
		case p.mode == w3cOnly || !hasKey(h, baggageKey):
			return propagation.TraceContext{}.Extract(ctx, HeaderCarrier(h))
		}
	}
	return p.textMap().Extract(ctx, HeaderCarrier(h))
}

// first returns the first value of vs, or "".
func first(vs []string) string {
	if len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// parseTraceparent is propagation.TraceContext's extract for the header
// values tp (traceparent) and ts (tracestate): the span context they carry
// (remote), or an invalid one. The fields have fixed widths, so they are
// read at fixed positions: "vv-" trace-id(32) "-" span-id(16) "-" flags(2),
// then, for versions above 00, "-" and anything. TraceContext splits at
// each "-" and accepts the same strings (including version 00 followed by
// one trailing "-", where the split leaves nothing after the flags).
func parseTraceparent(tp, ts string) trace.SpanContext {
	if len(tp) < traceparentLen || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return trace.SpanContext{}
	}
	var ver, opts [1]byte
	var scc trace.SpanContextConfig
	if !unhexInto(ver[:], tp[0:2]) || ver[0] > 254 ||
		!unhexInto(scc.TraceID[:], tp[3:35]) || !unhexInto(scc.SpanID[:], tp[36:52]) ||
		!unhexInto(opts[:], tp[53:55]) {
		return trace.SpanContext{}
	}
	rest := tp[traceparentLen:]
	if rest != "" {
		if rest[0] != '-' { // the flags field is longer than 2
			return trace.SpanContext{}
		}
		rest = rest[1:]
	}
	if ver[0] == 0 && (rest != "" || opts[0] > 3) {
		// version 0 has no further fields and no reserved flag bits
		return trace.SpanContext{}
	}
	scc.TraceFlags = trace.TraceFlags(opts[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	// A tracestate that does not parse is dropped; the traceparent stands
	// (W3C trace context).
	scc.TraceState, _ = trace.ParseTraceState(ts)
	scc.Remote = true
	sc := trace.NewSpanContext(scc)
	if !sc.IsValid() {
		return trace.SpanContext{}
	}
	return sc
}

// unhexInto decodes hex, which must be lower-case hex digits, into dst
// (len(hex) == 2*len(dst)).
func unhexInto(dst []byte, hex string) bool {
	for i := range dst {
		hi, lo := unhex(hex[2*i]), unhex(hex[2*i+1])
		if hi > 0x0f || lo > 0x0f {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// unhex is the value of a lower-case hex digit, or 0xff.
func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// hasKey reports whether h holds a value under k (lower case), in any case.
func hasKey(h nats.Header, k string) bool {
	if _, ok := h[k]; ok {
		return true
	}
	for hk := range h {
		if strings.EqualFold(hk, k) {
			return true
		}
	}
	return false
}

// Link returns a link to the producer span whose context h carries, and
// whether h carried a valid span context.
func (p Propagator) Link(h nats.Header) (trace.Link, bool) {
	if len(h) == 0 {
		return trace.Link{}, false
	}
	sc := trace.SpanContextFromContext(p.Extract(context.Background(), h))
	if !sc.IsValid() {
		return trace.Link{}, false
	}
	return trace.Link{SpanContext: sc}, true
}

// producerLink returns a link to the span context of ctx when it is a
// remote one (extracted from a delivered message's header): what a process
// span, a child of that context, also links to, so that the link survives
// re-parenting by samplers and batch processors.
func producerLink(ctx context.Context) (trace.Link, bool) {
	if psc := trace.SpanContextFromContext(ctx); psc.IsValid() && psc.IsRemote() {
		return trace.Link{SpanContext: psc}, true
	}
	return trace.Link{}, false
}
