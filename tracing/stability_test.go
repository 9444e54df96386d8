package tracing_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

// stabilityModes are the values of OTEL_SEMCONV_STABILITY_OPT_IN the
// tests run under, with the keys that carry messaging.system=nats and a
// jetstream hop's stream name in each mode (the names are spelled out
// here, not taken from internal/semconv, so that a change of the mapping
// shows up as a test failure).
var stabilityModes = []struct {
	env            string
	system, stream []string
}{
	{"", []string{"messaging.system"}, []string{"messaging.nats.stream"}},
	{"http", []string{"messaging.system"}, []string{"messaging.nats.stream"}},
	{"messaging", []string{"messaging.system.name"}, []string{"nats.stream"}},
	{"messaging/dup", []string{"messaging.system", "messaging.system.name"}, []string{"messaging.nats.stream", "nats.stream"}},
	{"http/dup, messaging , messaging/dup", []string{"messaging.system", "messaging.system.name"}, []string{"messaging.nats.stream", "nats.stream"}},
}

// otherMode is a value of the variable that selects another mode than
// the one whose system keys are system.
func otherMode(system []string) string {
	if len(system) == 2 {
		return ""
	}
	return "messaging/dup"
}

func modeName(env string) string {
	if env == "" {
		return "unset"
	}
	return env
}

// sortedKeys returns the attribute keys of kvs, sorted, failing on a key
// that appears twice.
func sortedKeys(t *testing.T, what string, kvs []attribute.KeyValue) []string {
	t.Helper()
	keys := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		keys = append(keys, string(kv.Key))
	}
	slices.Sort(keys)
	assert.Equal(t, slices.Compact(slices.Clone(keys)), keys, "%s: a key appears twice", what)
	return keys
}

func sortedOf(parts ...[]string) []string {
	out := slices.Concat(parts...)
	slices.Sort(out)
	return out
}

// TestHopCollectorSemconvStability traces a JetStream publish on a live
// server (ingress, jetstream and egress hops) under each value of
// OTEL_SEMCONV_STABILITY_OPT_IN and checks the exact attribute keys of every
// hop span, and the value under each name of messaging.system and of the
// stream. The value is read when the collector is built: changing it
// afterwards changes nothing.
func TestHopCollectorSemconvStability(t *testing.T) {
	for _, m := range stabilityModes {
		t.Run(modeName(m.env), func(t *testing.T) {
			t.Setenv(semconv.EnvStabilityOptIn, m.env)
			e := newHopEnv(t)
			c := e.collector(t)
			// Built: a later change of the variable must not reach it.
			t.Setenv(semconv.EnvStabilityOptIn, otherMode(m.system))

			ctx := t.Context()
			js, err := jetstream.New(e.nc)
			require.NoError(t, err)
			_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "LIVE", Subjects: []string{"live.>"}, Storage: jetstream.MemoryStorage})
			require.NoError(t, err)
			sub, err := e.nc.SubscribeSync("live.*")
			require.NoError(t, err)
			defer func() { _ = sub.Unsubscribe() }()
			require.NoError(t, e.nc.Flush())

			msg := nats.NewMsg("live.1")
			msg.Header.Set("traceparent", tp)
			msg.Header.Set(tracing.TraceDestHeader, hopsSubject)
			_, err = js.PublishMsg(ctx, msg)
			require.NoError(t, err)
			waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 1 })

			subjectHop := []string{"messaging.destination.name", "messaging.destination.template",
				"nats.hop.connection.kind", "nats.hop.connection.name", "nats.hop.type", "nats.server.name"}
			want := map[string][]string{
				"ingress live.*": sortedOf(m.system, subjectHop, []string{"nats.hop.account"}),
				"jetstream LIVE": sortedOf(m.system, m.stream, []string{"nats.hop.type", "nats.server.name"}),
				"egress live.*":  sortedOf(m.system, subjectHop),
			}
			spans := e.sr.Ended()
			require.Len(t, spans, len(want))
			for _, s := range spans {
				keys, ok := want[s.Name()]
				require.True(t, ok, "unexpected span %q", s.Name())
				assert.Equal(t, keys, sortedKeys(t, s.Name(), s.Attributes()), s.Name())
				got := attrMap(s.Attributes())
				for _, k := range m.system {
					assert.Equal(t, "nats", got[attribute.Key(k)], "%s: %s", s.Name(), k)
				}
				if s.Name() == "jetstream LIVE" {
					for _, k := range m.stream {
						assert.Equal(t, "LIVE", got[attribute.Key(k)], "%s: %s", s.Name(), k)
					}
				}
			}
		})
	}
}

// TestStartProcessSemconvStability handles a message delivered by a live
// server with StartProcess under each value of OTEL_SEMCONV_STABILITY_OPT_IN
// and checks the exact attribute keys of the process span. The value is
// read when StartProcess first meets a TracerProvider: later spans on the
// same provider keep that mode whatever the variable says then.
func TestStartProcessSemconvStability(t *testing.T) {
	srv := natstest.RunServer(t)
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync("orders.*")
	require.NoError(t, err)
	for _, m := range stabilityModes {
		t.Run(modeName(m.env), func(t *testing.T) {
			t.Setenv(semconv.EnvStabilityOptIn, m.env)
			sr := tracetest.NewSpanRecorder()
			provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
			t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
			opts := []tracing.Option{tracing.WithPropagators(w3c), tracing.WithTracerProvider(provider)}

			for i, env := range []string{m.env, otherMode(m.system)} {
				t.Setenv(semconv.EnvStabilityOptIn, env) // only the first is read
				out := nats.NewMsg("orders.42")
				tracing.Inject(spanCtx(t), out, opts...)
				require.NoError(t, nc.PublishMsg(out))
				msg, err := sub.NextMsg(5 * time.Second)
				require.NoError(t, err)
				_, span := tracing.StartProcess(context.Background(), msg, opts...)
				span.End()

				s := sr.Ended()[i]
				assert.Equal(t, "process orders.*", s.Name())
				assert.Equal(t, trace.SpanKindConsumer, s.SpanKind())
				assert.Equal(t, spanID, s.Parent().SpanID().String())
				assert.Equal(t, sortedOf(m.system, []string{"messaging.destination.name", "messaging.destination.template",
					"messaging.operation.name", "messaging.operation.type"}), sortedKeys(t, s.Name(), s.Attributes()),
					"span %d, variable %q", i, env)
				got := attrMap(s.Attributes())
				for _, k := range m.system {
					assert.Equal(t, "nats", got[attribute.Key(k)], k)
				}
				assert.Equal(t, "process", got["messaging.operation.name"])
				assert.Equal(t, "process", got["messaging.operation.type"])
				assert.Equal(t, "orders.*", got["messaging.destination.template"])
			}

			// Without a destination the span carries the same renamed
			// system attribute and the operation alone.
			_, span := tracing.StartProcess(context.Background(), nil, opts...)
			span.End()
			spans := sr.Ended()
			s := spans[len(spans)-1]
			assert.Equal(t, "process", s.Name())
			assert.Equal(t, sortedOf(m.system, []string{"messaging.operation.name", "messaging.operation.type"}),
				sortedKeys(t, s.Name(), s.Attributes()))
		})
	}
}

// nonComparableProvider is a TracerProvider of a type StartProcess cannot
// cache by (a func field makes it non-comparable).
type nonComparableProvider struct {
	trace.TracerProvider
	_ func()
}

// TestStartProcessSemconvStabilityUncached: for a TracerProvider that
// cannot be cached, the variable is read once, at the first such call of
// the process, not at each call. No other test of this package uses such a
// provider, so the first call is this test's (and the value set here is
// the same on every run of it).
func TestStartProcessSemconvStabilityUncached(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	provider := nonComparableProvider{TracerProvider: sdk}
	for _, env := range []string{"messaging", "", "messaging/dup"} {
		t.Setenv(semconv.EnvStabilityOptIn, env)
		_, span := tracing.StartProcess(context.Background(), &nats.Msg{Subject: "orders.42"}, tracing.WithTracerProvider(provider))
		span.End()
	}
	for _, s := range sr.Ended() {
		got := attrMap(s.Attributes())
		assert.Equal(t, "nats", got["messaging.system.name"])
		assert.NotContains(t, got, attribute.Key("messaging.system"))
	}
	assert.Len(t, sr.Ended(), 3)
}
