package tracing_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

const (
	traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanID  = "00f067aa0ba902b7"
	tp      = "00-" + traceID + "-" + spanID + "-01"
)

func TestHeaderCarrierGetIsCaseInsensitive(t *testing.T) {
	for _, key := range []string{"traceparent", "Traceparent", "TRACEPARENT", "TraceParent"} {
		t.Run(key, func(t *testing.T) {
			h := nats.Header{key: []string{tp}, "other": []string{"x"}}
			c := tracing.HeaderCarrier(h)
			assert.Equal(t, tp, c.Get("traceparent"))
			assert.Equal(t, tp, c.Get("Traceparent"))
			assert.Equal(t, "x", c.Get("OTHER"))
			assert.Equal(t, "", c.Get("tracestate"))
		})
	}
}

func TestHeaderCarrierGetPrefersExactCase(t *testing.T) {
	c := tracing.HeaderCarrier(nats.Header{"baggage": {"a=1"}, "Baggage": {"b=2"}})
	assert.Equal(t, "a=1", c.Get("baggage"))
	assert.Equal(t, "b=2", c.Get("Baggage"))
}

func TestHeaderCarrierSetWritesLowercaseAndReplacesOtherCase(t *testing.T) {
	h := nats.Header{"Traceparent": {"old"}, "Keep": {"me"}}
	c := tracing.HeaderCarrier(h)
	c.Set("Traceparent", tp)
	assert.Equal(t, nats.Header{"traceparent": {tp}, "Keep": {"me"}}, h)
	assert.ElementsMatch(t, []string{"traceparent", "Keep"}, c.Keys())

	var nilCarrier tracing.HeaderCarrier
	assert.NotPanics(t, func() { nilCarrier.Set("a", "b") })
	assert.Equal(t, "", nilCarrier.Get("a"))
	assert.Empty(t, nilCarrier.Keys())
}

func spanCtx(t *testing.T) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceID)
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex(spanID)
	require.NoError(t, err)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

func TestInjectAllocatesHeaderAndWritesLowercase(t *testing.T) {
	member, err := baggage.NewMember("tenant", "blue")
	require.NoError(t, err)
	bag, err := baggage.New(member)
	require.NoError(t, err)
	ctx := baggage.ContextWithBaggage(spanCtx(t), bag)

	msg := &nats.Msg{Subject: "orders.created"}
	tracing.Inject(ctx, msg, tracing.WithPropagators(w3c))
	require.NotNil(t, msg.Header)
	assert.Equal(t, []string{tp}, msg.Header["traceparent"])
	assert.Equal(t, []string{"tenant=blue"}, msg.Header["baggage"])
	for k := range msg.Header {
		assert.Equal(t, strings.ToLower(k), k, "injected keys are lower case")
	}

	// A plain W3C propagator over a lower-case map reads what we wrote.
	plain := propagation.MapCarrier{}
	for k, v := range msg.Header {
		plain[k] = v[0]
	}
	got := trace.SpanContextFromContext(w3c.Extract(context.Background(), plain))
	assert.Equal(t, traceID, got.TraceID().String())
	assert.Equal(t, spanID, got.SpanID().String())

	tracing.Inject(ctx, nil, tracing.WithPropagators(w3c)) // no panic
}

func TestExtractReadsAnyCase(t *testing.T) {
	for _, key := range []string{"traceparent", "Traceparent"} {
		t.Run(key, func(t *testing.T) {
			msg := &nats.Msg{Header: nats.Header{key: {tp}}}
			ctx := tracing.Extract(context.Background(), msg, tracing.WithPropagators(w3c))
			sc := trace.SpanContextFromContext(ctx)
			require.True(t, sc.IsValid())
			assert.True(t, sc.IsRemote())
			assert.Equal(t, traceID, sc.TraceID().String())
		})
	}
	ctx := context.Background()
	assert.Equal(t, ctx, tracing.Extract(ctx, nil))
	assert.Equal(t, ctx, tracing.Extract(ctx, &nats.Msg{}))
}

func TestLinks(t *testing.T) {
	msgs := []*nats.Msg{
		{Header: nats.Header{"traceparent": {tp}}},
		{},
		nil,
		{Header: nats.Header{"Traceparent": {"00-" + traceID + "-1111111111111111-01"}}},
	}
	links := tracing.Links(msgs, tracing.WithPropagators(w3c))
	require.Len(t, links, 2)
	assert.Equal(t, spanID, links[0].SpanContext.SpanID().String())
	assert.Equal(t, "1111111111111111", links[1].SpanContext.SpanID().String())

	_, ok := tracing.LinkFromHeader(nats.Header{"traceparent": {"garbage"}}, tracing.WithPropagators(w3c))
	assert.False(t, ok)
}

func TestSpanName(t *testing.T) {
	assert.Equal(t, "publish orders.*", tracing.SpanName("publish", "orders.*"))
	assert.Equal(t, "connect", tracing.SpanName("connect", ""))
}

func TestStartProcessIsChildAndLink(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	msg := &nats.Msg{Subject: "orders.42", Header: nats.Header{"Traceparent": {tp}}}
	_, span := tracing.StartProcess(context.Background(), msg,
		tracing.WithPropagators(w3c), tracing.WithTracerProvider(provider))
	span.End()

	spans := sr.Ended()
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, "process orders.*", s.Name())
	assert.Equal(t, trace.SpanKindConsumer, s.SpanKind())
	assert.Equal(t, traceID, s.Parent().TraceID().String())
	assert.Equal(t, spanID, s.Parent().SpanID().String())
	require.Len(t, s.Links(), 1)
	assert.Equal(t, spanID, s.Links()[0].SpanContext.SpanID().String())
	assert.Contains(t, s.Attributes(), semconv.System)
	assert.Contains(t, s.Attributes(), semconv.MessagingDestinationTemplateKey.String("orders.*"))
}

func TestDefaultSubjectNamer(t *testing.T) {
	tests := []struct{ in, want string }{
		{"orders.created", "orders.created"},
		{"orders.*", "orders.*"},
		{"orders.>", "orders.>"},
		{"_INBOX.abcdefghijklmnopqrstuv.12", "_INBOX"},
		{"_INBOX", "_INBOX"},
		{"$JS.ACK.ORDERS.dur.1.2.3.1700000000.0", "$JS.ACK"},
		{"$JS.FC.ORDERS.x.y", "$JS.FC"},
		{"$KV.config.secret-key", "$KV.config"},
		{"$O.images.C.abc", "$O.images"},
		{"$JS.API.STREAM.INFO.ORDERS", "$JS.API.STREAM.INFO.ORDERS"},
		{"orders.12345.created", "orders.*.created"},
		{"user.550e8400-e29b-41d4-a716-446655440000", "user.*"},
		{"obj.deadbeefdeadbeefdeadbeef", "obj.*"},
		{"req.OJ5uF7PPC8k7QQnQBxrFGQ", "req.*"},
		{"orders.eu-west", "orders.eu-west"},
		{"temperature.sensor3", "temperature.sensor3"},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, tracing.DefaultSubjectNamer(tc.in))
		})
	}
}

func TestDefaultSubjectNamerDoesNotAllocateForPlainSubjects(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { _ = tracing.DefaultSubjectNamer("orders.eu.created") })
	assert.Zero(t, allocs)
}

func TestLimitTemplatesCapsDistinctTemplates(t *testing.T) {
	identity := func(s string) string { return s }
	n := tracing.LimitTemplates(identity, 3)
	assert.Equal(t, "a", n("a"))
	assert.Equal(t, "b", n("b"))
	assert.Equal(t, "c", n("c"))
	assert.Equal(t, tracing.OverflowTemplate, n("d"))
	assert.Equal(t, "a", n("a"), "known templates keep their name")

	def := tracing.LimitTemplates(nil, 0)
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2500 {
				got := def(fmt.Sprintf("svc%c%d.x", 'a'+w, i)) // distinct templates, no IDs
				mu.Lock()
				seen[got] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, seen, tracing.DefaultMaxTemplates+1)
	assert.True(t, seen[tracing.OverflowTemplate])
}

func TestStartProcessWithoutProducerContext(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	_, span := tracing.StartProcess(context.Background(), nil, tracing.WithTracerProvider(provider))
	span.End()
	_, span = tracing.StartProcess(context.Background(), &nats.Msg{Subject: "_INBOX.abc"},
		tracing.WithTracerProvider(provider), tracing.WithSubjectNamer(func(string) string { return "custom" }))
	span.End()
	spans := sr.Ended()
	require.Len(t, spans, 2)
	assert.Equal(t, "process", spans[0].Name())
	assert.False(t, spans[0].Parent().IsValid())
	assert.Empty(t, spans[0].Links())
	assert.Equal(t, "process custom", spans[1].Name())
}

func TestExtractHeader(t *testing.T) {
	ctx := tracing.ExtractHeader(context.Background(), nats.Header{"TRACEPARENT": {tp}}, tracing.WithPropagators(w3c))
	assert.Equal(t, spanID, trace.SpanContextFromContext(ctx).SpanID().String())
	assert.Equal(t, context.Background(), tracing.ExtractHeader(context.Background(), nil))
}
