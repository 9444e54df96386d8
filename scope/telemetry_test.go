package scope_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/oteltest"
	"github.com/naq-io/naq/scope"
)

type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		ctx := context.Background()
		require.NoError(t, tel.tp.Shutdown(ctx))
		require.NoError(t, tel.mp.Shutdown(ctx))
	})
	return tel
}

func (tel *telemetry) options() []scope.PoolOption {
	return []scope.PoolOption{scope.WithTracerProvider(tel.tp), scope.WithMeterProvider(tel.mp)}
}

func (tel *telemetry) spansNamed(prefix string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if strings.HasPrefix(s.Name(), prefix) {
			out = append(out, s)
		}
	}
	return out
}

func (tel *telemetry) metric(t *testing.T, name string) (metricdata.Metrics, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// sumInt adds every data point of an int64 sum.
func (tel *telemetry) sumInt(t *testing.T, name string) int64 {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is %T", name, m.Data)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}

// histCount adds the counts of the points of float64 histogram name that
// carry every attribute of want.
func (tel *telemetry) histCount(t *testing.T, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is %T", name, m.Data)
	var n uint64
	for _, dp := range h.DataPoints {
		match := true
		for _, kv := range want {
			if v, has := dp.Attributes.Value(kv.Key); !has || v.Emit() != kv.Value.Emit() {
				match = false
			}
		}
		if match {
			n += dp.Count
		}
	}
	return n
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestPooledHandlesAreInstrumented(t *testing.T) {
	srv := startServer(t)
	tel := newTelemetry(t)
	p := newPool(t, tel.options()...)
	ctx := context.Background()
	opts := []scope.Option{scope.WithPool(p), scope.WithLookupEnv(noEnv), scope.WithClientName("orders-svc")}

	err := scope.Run(ctx, srv.URL(), func(ctx context.Context, c *instrument.Conn) error {
		if err := c.Publish("greetings", []byte("hi")); err != nil {
			return err
		}
		return c.Flush()
	}, opts...)
	require.NoError(t, err)
	err = scope.JetStream(ctx, srv.URL(), func(ctx context.Context, js jetstream.JetStream) error {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders"}}); err != nil {
			return err
		}
		if _, err := js.Publish(ctx, "orders", []byte("o1")); err != nil {
			return err
		}
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "settings"})
		return err
	}, opts...)
	require.NoError(t, err)
	err = scope.KeyValue(ctx, srv.URL(), "settings", func(ctx context.Context, kv jetstream.KeyValue) error {
		_, err := kv.PutString(ctx, "theme", "dark")
		return err
	}, opts...)
	require.NoError(t, err)

	// One connect span for the one pooled connection.
	connects := tel.spansNamed("connect")
	require.Len(t, connects, 1)
	c := connects[0]
	assert.Equal(t, trace.SpanKindClient, c.SpanKind())
	v, _ := attr(c, "messaging.system")
	assert.Equal(t, "nats", v.AsString())
	v, _ = attr(c, "server.address")
	assert.Equal(t, "127.0.0.1", v.AsString())
	v, _ = attr(c, "server.port")
	assert.EqualValues(t, srv.Port(), v.AsInt64())
	v, _ = attr(c, "nats.connection.name")
	assert.Equal(t, "orders-svc", v.AsString())
	v, _ = attr(c, "messaging.operation.name")
	assert.Equal(t, "connect", v.AsString())
	// The connect runs through instrument's one pipeline: its span and the
	// operation duration with operation name connect.
	assert.Equal(t, instrument.ScopeName, c.InstrumentationScope().Name)
	assert.EqualValues(t, 1, tel.histCount(t, "messaging.client.operation.duration",
		attribute.String("messaging.operation.name", "connect"), attribute.String("nats.connection.name", "orders-svc")))

	// The handles are the instrument wrappers.
	pubs := tel.spansNamed("publish greetings")
	require.Len(t, pubs, 1)
	assert.Equal(t, trace.SpanKindProducer, pubs[0].SpanKind())
	assert.Len(t, tel.spansNamed("publish orders"), 1, "JetStream publish traced")
	assert.Len(t, tel.spansNamed("kv.put settings"), 1, "KeyValue put traced")
	v, _ = attr(pubs[0], "nats.connection.name")
	assert.Equal(t, "orders-svc", v.AsString())

	// Connection metrics from the metrics package.
	assert.EqualValues(t, 1, tel.sumInt(t, "nats.client.connections.opened"))
	assert.EqualValues(t, 0, tel.sumInt(t, "nats.client.connections.failed"))
	assert.EqualValues(t, 1, tel.sumInt(t, "nats.client.connections.active"))
	_, ok := tel.metric(t, "nats.client.connect.duration")
	assert.True(t, ok)
	_, ok = tel.metric(t, "messaging.client.operation.duration")
	assert.True(t, ok)
	_, ok = tel.metric(t, "nats.client.circuit.state")
	assert.True(t, ok, "the per-connection gate reports its state")
	snap := p.Recorder().Snapshot()
	assert.EqualValues(t, 1, snap.Opened)
	assert.EqualValues(t, 1, snap.Active)

	require.NoError(t, p.Close(ctx))
	assert.EqualValues(t, 0, tel.sumInt(t, "nats.client.connections.active"), "back to zero after the pool drained")
	_, ok = tel.metric(t, "nats.client.circuit.state")
	assert.False(t, ok, "gate gauges unregistered when the pool closed")
}

func TestConnectBreakerRejectsDialsNotHandles(t *testing.T) {
	srv := startServer(t)
	srv.Stop()
	tel := newTelemetry(t)
	var dials dialCounter
	popts := append(tel.options(), dials.option(),
		scope.WithGateOptions(circuit.WithDialOptions(circuit.WithConsecutiveFailures(2),
			circuit.WithOpenTimeout(time.Hour), circuit.WithOpenBackoff(1, time.Hour))))
	p := newPool(t, popts...)
	ctx := context.Background()
	cfg := cfgFor(srv)

	_, err := p.Acquire(ctx, cfg, scope.WithRetry(fastPolicy(10)))
	require.Error(t, err)
	assert.ErrorIs(t, err, circuit.ErrOpen, "the open breaker stopped the retries")
	require.EqualValues(t, 3, dials.n.Load(), "two refused dials, then one rejected without dialing")
	assert.NotErrorIs(t, dials.errs[0], circuit.ErrOpen)
	assert.ErrorIs(t, dials.errs[2], circuit.ErrOpen)
	assert.EqualValues(t, 2, tel.sumInt(t, "nats.client.connections.failed"), "a rejection is not a connect attempt")
	connects := tel.spansNamed("connect")
	require.Len(t, connects, 3)
	assert.Equal(t, codes.Error, connects[0].Status().Code)
	v, _ := attr(connects[0], "error.type")
	assert.Equal(t, "no_servers", v.AsString())
	v, _ = attr(connects[2], "error.type")
	assert.Equal(t, "circuit_open", v.AsString())
	connectOp := attribute.String("messaging.operation.name", "connect")
	assert.EqualValues(t, 2, tel.histCount(t, "messaging.client.operation.duration",
		connectOp, attribute.String("error.type", "no_servers")))
	assert.EqualValues(t, 1, tel.histCount(t, "messaging.client.operation.duration",
		connectOp, attribute.String("error.type", "circuit_open")))

	// Health checks bypass the connect breaker: they measure the server.
	srv.Restart()
	_, err = scope.Health(ctx, srv.URL(), scope.WithPool(p), scope.WithConfig(cfg))
	require.NoError(t, err)

	// The connect breaker guards dials only: the handles of the connection
	// the health check opened work while it is still open.
	s, err := p.Acquire(ctx, cfg)
	require.NoError(t, err, "reusing a pooled connection needs no dial")
	require.NotNil(t, s.Gate())
	assert.Equal(t, circuit.StateOpen, s.Gate().State().Dial)
	assert.Equal(t, circuit.StateClosed, s.Gate().State().Connection)
	js, err := s.JetStream()
	require.NoError(t, err)
	_, err = js.AccountInfo(ctx)
	assert.NoError(t, err, "an open connect breaker does not gate a connection that is up")
	require.NoError(t, s.Conn().PublishContext(ctx, "x", nil))
	require.NoError(t, s.Close(ctx))
}

func TestWithoutGate(t *testing.T) {
	srv := startServer(t)
	p := newPool(t, scope.WithoutGate())
	s, err := p.Acquire(context.Background(), cfgFor(srv))
	require.NoError(t, err)
	assert.Nil(t, s.Gate())
	js, err := s.JetStream()
	require.NoError(t, err)
	_, err = js.AccountInfo(context.Background())
	require.NoError(t, err)
	require.NoError(t, s.Close(context.Background()))

	_, err = scope.NewPool(scope.WithGateOptions(circuit.WithDestinationOptions(circuit.WithConsecutiveFailures(-1))))
	assert.ErrorIs(t, err, circuit.ErrInvalidOption)
	_, err = scope.NewPool(scope.WithGateOptions(circuit.WithGrace(-time.Second)))
	assert.ErrorIs(t, err, circuit.ErrInvalidOption)
}

func TestDoReturnsValueOfInstrumentedConn(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	id, err := scope.Do(context.Background(), srv.URL(), func(_ context.Context, c *instrument.Conn) (string, error) {
		return c.Conn().ConnectedServerId(), nil
	}, scope.WithPool(p), scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	assert.Equal(t, srv.NATS().ID(), id)
	_ = nats.ErrTimeout
}

// assertNoSecrets scans every recorded span and metric data point for any
// of the forbidden strings (see oteltest.AssertNoSecrets).
func (tel *telemetry) assertNoSecrets(t *testing.T, forbidden ...string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	oteltest.AssertNoSecrets(t, tel.spans.Ended(), rm, forbidden...)
}

// Credentials never reach telemetry: not from a token or a user/password
// config, not from a failed dial, not from the pooled handles' operations.
func TestNoCredentialsInTelemetry(t *testing.T) {
	// Long markers that cannot occur by chance in a port or id (see
	// oteltest.AssertNoSecrets); stem is the part both share.
	const stem = "Qz7vKw9LmTxR4pNs"
	const token, password = "tok-" + stem + "-8842", "pw-" + stem + "-7731"
	for _, tc := range []struct {
		name      string
		server    func(*server.Options)
		good, bad scope.Option
		forbidden []string
	}{
		{"token", func(o *server.Options) { o.Authorization = token },
			scope.WithToken(token), scope.WithToken(token + "-wrong"), []string{token, stem}},
		{"user/password", func(o *server.Options) { o.Username, o.Password = "alice", password },
			scope.WithUserPassword("alice", password), scope.WithUserPassword("alice", password+"-wrong"),
			[]string{password, stem}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.server)
			tel := newTelemetry(t)
			p := newPool(t, append(tel.options(), scope.WithIdleTimeout(0))...)
			ctx := context.Background()
			opts := []scope.Option{scope.WithPool(p), scope.WithLookupEnv(noEnv), scope.WithClientName("svc")}

			err := scope.Run(ctx, srv.URL(), func(ctx context.Context, c *instrument.Conn) error {
				if _, err := c.Subscribe("svc.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
					return err
				}
				if err := c.Flush(); err != nil {
					return err
				}
				_, err := c.Request("svc.echo", []byte("payload"), 5*time.Second)
				return err
			}, append(opts, tc.good)...)
			require.NoError(t, err)
			err = scope.Run(ctx, srv.URL(), func(context.Context, *instrument.Conn) error { return nil },
				append(opts, tc.bad)...)
			require.ErrorIs(t, err, nats.ErrAuthorization)

			require.Len(t, tel.spansNamed("connect"), 2, "one good and one failed dial")
			require.NotEmpty(t, tel.spansNamed("request "))
			tel.assertNoSecrets(t, tc.forbidden...)
		})
	}
}

// gaugeInt returns the value of the int64 gauge name at the point whose
// destination template is dest.
func (tel *telemetry) gaugeInt(t *testing.T, name, dest string) (int64, bool) {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0, false
	}
	var points []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Gauge[int64]:
		points = d.DataPoints
	case metricdata.Sum[int64]:
		points = d.DataPoints
	default:
		require.Failf(t, "unexpected data", "%s is %T", name, m.Data)
	}
	for _, dp := range points {
		if v, ok := dp.Attributes.Value("messaging.destination.template"); ok && v.AsString() == dest {
			return dp.Value, true
		}
	}
	return 0, false
}

func TestSubscriptionsThroughHandleAreTracked(t *testing.T) {
	srv := startServer(t)
	tel := newTelemetry(t)
	p := newPool(t, tel.options()...)
	ctx := context.Background()
	cfg := cfgFor(srv)
	cfg.ClientName = "worker"
	s, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(ctx)) }()
	c := s.Conn()

	// A slow subscriber: its handler blocks on the first message, at most 5
	// more are queued, the rest are dropped. No manual Observer.Track.
	block := make(chan struct{})
	var unblock sync.Once
	release := func() { unblock.Do(func() { close(block) }) }
	defer release()
	sub, err := c.Subscribe("slow.jobs", func(*nats.Msg) { <-block })
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(5, -1))
	// A synchronous subscription nobody reads.
	syncSub, err := c.SubscribeSync("idle.jobs")
	require.NoError(t, err)
	// Unread messages would hold up the pool's drain on failure.
	defer func() { _ = syncSub.Unsubscribe() }()
	for range 20 {
		require.NoError(t, c.Publish("slow.jobs", []byte("x")))
		require.NoError(t, c.Publish("idle.jobs", []byte("x")))
	}
	require.NoError(t, c.Flush())

	require.Eventually(t, func() bool {
		pending, ok1 := tel.gaugeInt(t, "nats.client.subscription.pending", "slow.jobs")
		dropped, ok2 := tel.gaugeInt(t, "nats.client.subscription.dropped", "slow.jobs")
		// The message blocked in the handler still counts as pending.
		return ok1 && ok2 && pending == 5 && dropped == 15
	}, 5*time.Second, 10*time.Millisecond, "pending and dropped of the slow subscriber")
	pending, ok := tel.gaugeInt(t, "nats.client.subscription.pending", "idle.jobs")
	assert.True(t, ok)
	assert.EqualValues(t, 20, pending)

	// Unsubscribed: no longer reported.
	release()
	require.NoError(t, sub.Unsubscribe())
	require.NoError(t, syncSub.Unsubscribe())
	require.Eventually(t, func() bool {
		_, ok1 := tel.gaugeInt(t, "nats.client.subscription.pending", "slow.jobs")
		_, ok2 := tel.gaugeInt(t, "nats.client.subscription.pending", "idle.jobs")
		return !ok1 && !ok2
	}, 5*time.Second, 10*time.Millisecond)
}
