package tracing_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

// propagators are the propagators the equality tests compare the
// Propagator with: the W3C ones it formats directly, in every composition
// it recognises, and some it must leave to the generic path.
var propagators = map[string]propagation.TextMapPropagator{
	"tracecontext":          propagation.TraceContext{},
	"*tracecontext":         &propagation.TraceContext{},
	"tracecontext+baggage":  propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	"baggage+tracecontext":  propagation.NewCompositeTextMapPropagator(propagation.Baggage{}, propagation.TraceContext{}),
	"nested":                propagation.NewCompositeTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}), propagation.Baggage{}),
	"baggage":               propagation.Baggage{},
	"empty composite":       propagation.NewCompositeTextMapPropagator(),
	"tracecontext+custom":   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, tenantProp{}),
	"custom":                tenantProp{},
	"tracecontext,twice":    propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.TraceContext{}),
	"tracecontext+baggage2": propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}, propagation.Baggage{}),
}

// tenantProp is a propagator the Propagator does not know: it writes its
// own header.
type tenantProp struct{}

func (tenantProp) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		c.Set("x-tenant", "acme")
	}
}

func (tenantProp) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}
func (tenantProp) Fields() []string { return []string{"x-tenant"} }

// genericInject is what the Propagator must write: the propagator itself
// through a HeaderCarrier.
func genericInject(p propagation.TextMapPropagator, ctx context.Context, h nats.Header) {
	p.Inject(ctx, tracing.HeaderCarrier(h))
}

// spanCtx builds a span context from raw fields (it may be invalid).
func rawSpanCtx(tid [16]byte, sid [8]byte, flags byte, ts string, remote bool) trace.SpanContext {
	state, _ := trace.ParseTraceState(ts)
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags), TraceState: state, Remote: remote,
	})
}

// checkInject compares, for one context and one starting header, what the
// Propagator of each propagator writes with what the propagator writes
// through a HeaderCarrier.
func checkInject(t *testing.T, ctx context.Context, start nats.Header) {
	t.Helper()
	var buf tracing.TraceparentBuffer
	for name, p := range propagators {
		want, got, buffered := cloneHeader(start), cloneHeader(start), cloneHeader(start)
		genericInject(p, ctx, want)
		tracing.NewPropagator(p).Inject(ctx, got)
		if !headersEqual(want, got) {
			t.Fatalf("%s: Propagator wrote %q, the propagator writes %q (from %q, span context %v)",
				name, got, want, start, trace.SpanContextFromContext(ctx))
		}
		tracing.NewPropagator(p).InjectBuffered(ctx, trace.SpanContextFromContext(ctx), buffered, &buf)
		if !headersEqual(want, buffered) {
			t.Fatalf("%s: InjectBuffered wrote %q, the propagator writes %q (from %q)", name, buffered, want, start)
		}
		// Given another span context than ctx's, InjectBuffered writes
		// what the propagator writes for that one, on every path.
		other := rawSpanCtx([16]byte{9, 8, 7}, [8]byte{6, 5}, 1, "k=v", false)
		wantOther, gotOther := cloneHeader(start), cloneHeader(start)
		genericInject(p, trace.ContextWithSpanContext(ctx, other), wantOther)
		tracing.NewPropagator(p).InjectBuffered(ctx, other, gotOther, &buf)
		if !headersEqual(wantOther, gotOther) {
			t.Fatalf("%s: InjectBuffered with another span context wrote %q, the propagator writes %q (from %q)", name, gotOther, wantOther, start)
		}
	}
}

// headersEqual compares two headers; a baggage value is compared as the
// set of its members (baggage.String lists them in map order).
func headersEqual(a, b nats.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if av[i] != bv[i] && (k != "baggage" || !sameMembers(av[i], bv[i])) {
				return false
			}
		}
	}
	return true
}

func sameMembers(a, b string) bool {
	ba, errA := baggage.Parse(a)
	bb, errB := baggage.Parse(b)
	if errA != nil || errB != nil || ba.Len() != bb.Len() {
		return false
	}
	for _, m := range ba.Members() {
		if bb.Member(m.Key()).String() != m.String() {
			return false
		}
	}
	return true
}

// TestPropagatorInjectEqualsGeneric compares the direct formatting with the
// generic propagators for many random span contexts: every flag byte,
// with and without tracestate and baggage, into empty headers and headers
// that already hold other-cased copies of the keys.
func TestPropagatorInjectEqualsGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	states := []string{"", "vendor=value", "a=1,b=2", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}
	bags := []string{"", "user=alice", "k1=v1,k2=v2;prop"}
	starts := []nats.Header{
		nil, {}, {"Traceparent": {"old"}}, {"TRACESTATE": {"x=y"}, "keep": {"me"}},
		{"traceparent": {"a", "b"}, "Baggage": {"z=1"}},
	}
	for i := range 3000 {
		var tid [16]byte
		var sid [8]byte
		binary.LittleEndian.PutUint64(tid[:8], r.Uint64())
		binary.LittleEndian.PutUint64(tid[8:], r.Uint64())
		binary.LittleEndian.PutUint64(sid[:], r.Uint64())
		if i%97 == 0 {
			tid = [16]byte{} // invalid
		}
		if i%89 == 0 {
			sid = [8]byte{}
		}
		ctx := trace.ContextWithSpanContext(context.Background(),
			rawSpanCtx(tid, sid, byte(i), states[i%len(states)], i%2 == 0))
		if b, err := baggage.Parse(bags[i%len(bags)]); err == nil && b.Len() > 0 {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
		start := starts[i%len(starts)]
		if start == nil {
			start = nats.Header{}
		}
		checkInject(t, ctx, start)
	}
}

func TestPropagatorFormatsTraceparent(t *testing.T) {
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex(spanID)
	for _, tc := range []struct {
		flags trace.TraceFlags
		want  string
	}{
		{0, "00-" + traceID + "-" + spanID + "-00"},
		{trace.FlagsSampled, tp},
		{trace.FlagsSampled | trace.FlagsRandom, "00-" + traceID + "-" + spanID + "-03"},
		{0xff, "00-" + traceID + "-" + spanID + "-03"}, // only the defined flags
	} {
		ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: tc.flags,
		}))
		h := nats.Header{}
		tracing.NewPropagator(w3c).Inject(ctx, h)
		assert.Equal(t, nats.Header{"traceparent": {tc.want}}, h)
	}
}

// TestPropagatorNeverWritesIntoSharedValues: a header copied from a
// caller's (value slices shared) gets new value slices, so the caller's
// header is never written.
func TestPropagatorNeverWritesIntoSharedValues(t *testing.T) {
	caller := nats.Header{"traceparent": {"caller's"}, "tracestate": {"caller=1"}}
	copied := nats.Header{}
	for k, v := range caller {
		copied[k] = v
	}
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex(spanID)
	state, err := trace.ParseTraceState("mine=2")
	require.NoError(t, err)
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: state,
	}))
	tracing.NewPropagator(w3c).Inject(ctx, copied)
	assert.Equal(t, nats.Header{"traceparent": {"caller's"}, "tracestate": {"caller=1"}}, caller)
	assert.Equal(t, nats.Header{"traceparent": {tp}, "tracestate": {"mine=2"}}, copied)
}

// TestPropagatorExtractEqualsGeneric compares Extract with the
// propagator's own Extract through a HeaderCarrier on headers with valid,
// invalid, other-cased and duplicated trace context, with and without
// baggage.
func TestPropagatorExtractEqualsGeneric(t *testing.T) {
	headers := []nats.Header{
		{"traceparent": {tp}},
		{"Traceparent": {tp}},
		{"TRACEPARENT": {tp}, "tracestate": {"a=1"}},
		{"traceparent": {tp}, "TraceState": {"a=1,b=2"}, "baggage": {"user=alice"}},
		{"traceparent": {tp}, "BAGGAGE": {"user=bob"}},
		{"traceparent": {"00-" + traceID + "-" + spanID + "-09"}}, // reserved flag bits
		{"traceparent": {"garbage"}},
		{"traceparent": {}},
		{"traceparent": {tp, "00-" + traceID + "-" + spanID + "-00"}},
		{"baggage": {"only=bag"}},
		{"x": {"y"}},
		{},
		{"traceparent": {"00-" + strings.ToUpper(traceID) + "-" + spanID + "-01"}}, // upper-case hex
		{"traceparent": {"ff-" + traceID + "-" + spanID + "-01"}},                  // version 255
		{"traceparent": {"01-" + traceID + "-" + spanID + "-01-extra"}},            // future version, more fields
		{"traceparent": {"00-" + traceID + "-" + spanID + "-01-extra"}},
		{"traceparent": {tp + "-"}},
		{"traceparent": {"00-00000000000000000000000000000000-" + spanID + "-01"}},
		{"traceparent": {"00-" + traceID + "-0000000000000000-01"}},
		{"traceparent": {tp}, "tracestate": {"not a state"}},
		{"traceparent": {tp}, "tracestate": {}},
		{"traceparent": {tp}, "tracestate": {"a=1"}, "baggage": {"k=v"}},
		{"traceparent": {tp}, "other": {"x"}},
	}
	for _, h := range headers {
		checkExtract(t, h)
	}
}

func checkExtract(t *testing.T, h nats.Header) {
	t.Helper()
	for name, p := range propagators {
		want := p.Extract(context.Background(), tracing.HeaderCarrier(cloneHeader(h)))
		got := tracing.NewPropagator(p).Extract(context.Background(), cloneHeader(h))
		if ws, gs := trace.SpanContextFromContext(want), trace.SpanContextFromContext(got); !ws.Equal(gs) {
			t.Fatalf("%s: Extract(%q) = %v, the propagator gives %v", name, h, gs, ws)
		}
		if wb, gb := baggage.FromContext(want).String(), baggage.FromContext(got).String(); wb != gb {
			t.Fatalf("%s: Extract(%q) baggage = %q, the propagator gives %q", name, h, gb, wb)
		}
		wl, wok := tracing.NewPropagator(p).Link(cloneHeader(h))
		if ws := trace.SpanContextFromContext(want); wok != ws.IsValid() || (wok && !wl.SpanContext.Equal(ws)) {
			t.Fatalf("%s: Link(%q) = %v, %v; want the extracted %v", name, h, wl.SpanContext, wok, ws)
		}
	}
}

// FuzzPropagator: for any span context, tracestate, baggage and starting
// header, Inject writes exactly what the generic propagators write, and
// Extract of any header reads exactly what they read.
func FuzzPropagator(f *testing.F) {
	f.Add([]byte("4bf92f3577b34da6a3ce929d0e0e4736"), []byte("00f067aa"), byte(1), "congo=t61rcWkgMzE", "user=alice", "Traceparent:old")
	f.Add([]byte{}, []byte{}, byte(0), "", "", "")
	f.Add([]byte("0123456789abcdef"), []byte("01234567"), byte(3), "a=1", "", "tracestate:x=y\nbaggage:k=v")
	f.Add([]byte{1}, []byte{2}, byte(1), tp, "a=1", "traceparent:"+tp)
	f.Add([]byte{1}, []byte{2}, byte(1), "01-"+traceID+"-"+spanID+"-03-x", "", "traceparent:"+tp+"\ntracestate:a=1")
	f.Fuzz(func(t *testing.T, tidB, sidB []byte, flags byte, ts, bag, raw string) {
		var tid [16]byte
		var sid [8]byte
		copy(tid[:], tidB)
		copy(sid[:], sidB)
		ctx := trace.ContextWithSpanContext(context.Background(), rawSpanCtx(tid, sid, flags, ts, flags&0x80 != 0))
		if b, err := baggage.Parse(bag); err == nil && b.Len() > 0 {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
		checkInject(t, ctx, fuzzHeader(raw))
		checkExtract(t, fuzzHeader(raw))
		// A traceparent the fuzzer spelled, in any case of key.
		checkExtract(t, nats.Header{strings.ToUpper(ts): {raw}, "traceparent": {ts}, "tracestate": {bag}})
		checkExtract(t, nats.Header{"traceparent": {ts}, "tracestate": {bag}})
		checkExtract(t, nats.Header{"traceparent": {ts}})
	})
}

// TestPropagatorZeroValueUsesTheGlobal: the zero Propagator (and a nil
// propagator) use the global propagator at call time.
func TestPropagatorZeroValueUsesTheGlobal(t *testing.T) {
	var zero tracing.Propagator
	assert.Equal(t, zero, tracing.NewPropagator(nil))
	assert.NotPanics(t, func() { zero.Inject(context.Background(), nats.Header{}) })
	assert.ElementsMatch(t, []string{"traceparent", "tracestate", "baggage"}, tracing.NewPropagator(w3c).Fields())
}

// TestStartProcessNamesBySubscriptionTemplate: a message delivered to a
// wildcard subscription is named by the subscription's template, as the
// instrument wrappers name it, with the same attributes; attributes and
// the link are set only on a recording span.
func TestStartProcessNamesBySubscriptionTemplate(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	msg := &nats.Msg{Subject: "orders.eu.created", Sub: &nats.Subscription{Subject: "orders.*.created"},
		Header: nats.Header{"traceparent": {tp}}}
	for range 3 { // the tracer is made once and reused
		_, span := tracing.StartProcess(context.Background(), msg, tracing.WithPropagators(w3c),
			tracing.WithTracerProvider(provider))
		span.End()
	}
	spans := sr.Ended()
	require.Len(t, spans, 3)
	s := spans[0]
	assert.Equal(t, "process orders.*.created", s.Name())
	assert.Equal(t, tracing.ScopeName, s.InstrumentationScope().Name)
	assert.ElementsMatch(t, []attribute.KeyValue{
		semconv.System,
		semconv.MessagingOperationNameKey.String(semconv.OpProcess),
		semconv.MessagingOperationTypeKey.String(semconv.OpTypeProcess),
		semconv.MessagingDestinationNameKey.String("orders.*.created"),
		semconv.MessagingDestinationTemplateKey.String("orders.*.created"),
	}, s.Attributes())
	require.Len(t, s.Links(), 1)
	assert.Equal(t, s.Parent(), s.Links()[0].SpanContext)

	// Not sampled: a child of the producer context, nothing set.
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, span := tracing.StartProcess(context.Background(), msg, tracing.WithPropagators(w3c),
		tracing.WithTracerProvider(never))
	assert.False(t, span.IsRecording())
	assert.Equal(t, traceID, trace.SpanContextFromContext(ctx).TraceID().String())
}

// TestInjectBufferedReusesTheBuffer: with a buffer, the traceparent costs
// no allocation, and the value refers to the buffer (valid until it is
// used again).
func TestInjectBufferedReusesTheBuffer(t *testing.T) {
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex(spanID)
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	prop := tracing.NewPropagator(w3c)
	var buf tracing.TraceparentBuffer
	h := nats.Header{}
	sc := trace.SpanContextFromContext(ctx)
	prop.InjectBuffered(ctx, sc, h, &buf)
	assert.Equal(t, nats.Header{"traceparent": {tp}}, h)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		clear(h)
		prop.InjectBuffered(ctx, sc, h, &buf)
	}))
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() {
		clear(h)
		prop.Inject(ctx, h)
	}), "without a buffer: one allocation for the value")
}

// TestPropagatorExtractMutatedTraceparents compares Extract with
// TraceContext on every one-character substitution, insertion and
// deletion of valid traceparents (versions 00, 01 and fe, with and without
// extra fields): the fixed-position parser accepts exactly what
// TraceContext's split-at-dashes parser accepts.
func TestPropagatorExtractMutatedTraceparents(t *testing.T) {
	bases := []string{tp, "00-" + traceID + "-" + spanID + "-00", "01-" + traceID + "-" + spanID + "-03-x-y",
		"fe-" + traceID + "-" + spanID + "-01", tp + "-"}
	chars := "-0afAFgz_ \x00"
	var cases []string
	for _, b := range bases {
		cases = append(cases, b, b+"-", b+"--", b+"0", b[:len(b)-1])
		for i := 0; i <= len(b); i++ {
			if i < len(b) {
				cases = append(cases, b[:i]+b[i+1:]) // deletion
			}
			for _, c := range chars {
				cases = append(cases, b[:i]+string(c)+b[i:]) // insertion
				if i < len(b) {
					cases = append(cases, b[:i]+string(c)+b[i+1:]) // substitution
				}
			}
		}
	}
	for _, c := range cases {
		checkExtract(t, nats.Header{"traceparent": {c}})
		checkExtract(t, nats.Header{"traceparent": {c}, "tracestate": {"a=1"}})
	}
}
