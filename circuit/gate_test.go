package circuit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
)

// newTestGate builds a gate on a fake clock with a manual metric reader.
func newTestGate(t *testing.T, opts ...GateOption) (*Gate, *fakeClock, *sdkmetric.ManualReader) {
	t.Helper()
	clk := newFakeClock()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	g, err := NewGate("gate", append([]GateOption{withClock(clk.Now), WithMeterProvider(mp)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Close()) })
	return g, clk, reader
}

func guardCall(gd *Guard, err error, d time.Duration) error {
	done, aerr := gd.Allow(context.Background())
	if aerr != nil {
		return aerr
	}
	done(err, d)
	return nil
}

func TestNewGateValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gname string
		opts  []GateOption
		want  string
	}{
		{"empty name", "", nil, "gate name"},
		{"negative grace", "g", []GateOption{WithGrace(-time.Second)}, "grace = -1s"},
		{"zero destinations", "g", []GateOption{WithMaxDestinations(0)}, "max destinations = 0"},
		{"bad destination option", "g", []GateOption{WithDestinationOptions(WithFailureRate(2, 10))}, "failure rate = 2"},
		{"bad dial option", "g", []GateOption{WithDialOptions(WithOpenTimeout(-1))}, "open timeout"},
		{"bad probe timeout", "g", []GateOption{WithDestinationOptions(WithProbeTimeout(-1))}, "probe timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGate(tc.gname, tc.opts...)
			assert.Nil(t, g)
			require.ErrorIs(t, err, ErrInvalidOption)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	g, err := NewGate("ok", nil, WithGrace(0))
	require.NoError(t, err, "nil options are ignored")
	require.NoError(t, g.Close())
	require.NoError(t, g.Close(), "Close is idempotent")
}

func TestDestinationClassifier(t *testing.T) {
	failures := []error{
		context.DeadlineExceeded, nats.ErrTimeout, fmt.Errorf("w: %w", nats.ErrTimeout),
		jetstream.ErrAsyncPublishTimeout, jetstream.ErrNoHeartbeat, jetstream.ErrServerShutdown,
		jetstream.ErrJetStreamNotEnabled, &jetstream.APIError{Code: 503, ErrorCode: 10039},
		&jetstream.APIError{Code: 500, ErrorCode: 10012},
	}
	for _, err := range failures {
		assert.True(t, DestinationClassifier(err), "%v counts", err)
	}
	notFailures := []error{
		nil, context.Canceled, nats.ErrNoResponders, jetstream.ErrNoStreamResponse,
		nats.ErrBadSubject, nats.ErrMaxPayload, jetstream.ErrInvalidStreamName, jetstream.ErrInvalidKey,
		jetstream.ErrInvalidBucketName, jetstream.ErrStreamNotFound, jetstream.ErrKeyExists,
		jetstream.ErrKeyNotFound, &jetstream.APIError{Code: 400, ErrorCode: 10058},
		nats.ErrConnectionClosed, nats.ErrConnectionReconnecting, nats.ErrNoServers,
		errors.New("anything else"),
	}
	for _, err := range notFailures {
		assert.False(t, DestinationClassifier(err), "%v does not count", err)
	}
}

// Each (family, destination) has its own breaker: one tripping leaves the
// others closed.
func TestGateDestinationsIndependent(t *testing.T) {
	g, clk, reader := newTestGate(t, WithDestinationOptions(WithFailureRate(0.5, 4)))
	a := g.Guard("request", "svc.a", PolicyRequest)
	b := g.Guard("request", "svc.b", PolicyRequest)
	kvA := g.Guard("kv", "svc.a", PolicyRequest)
	assert.Same(t, a, g.Guard("request", "svc.a", PolicyRequest), "same arguments, same guard")
	assert.NotSame(t, a, kvA, "the family is part of the key")
	assert.Equal(t, "request svc.a", a.Destination())

	for range 4 {
		require.NoError(t, guardCall(a, nats.ErrTimeout, time.Millisecond))
	}
	err := guardCall(a, nil, 0)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "gate", oe.Name)
	assert.Equal(t, "request svc.a", oe.Destination)
	assert.Equal(t, time.Second, oe.Remaining, "destination default: open 1s")
	assert.Contains(t, err.Error(), `breaker "gate" for request svc.a rejects calls for another 1s`)
	for range 50 {
		require.NoError(t, guardCall(b, nil, time.Millisecond))
		require.NoError(t, guardCall(kvA, nil, time.Millisecond))
	}
	assert.Equal(t, []DestinationState{{Destination: "request svc.a", State: StateOpen}}, g.State().Destinations)

	// Half-open after 1s; a failed probe doubles the open timeout.
	clk.Advance(time.Second)
	require.NoError(t, guardCall(a, nats.ErrTimeout, time.Millisecond))
	require.ErrorAs(t, guardCall(a, nil, 0), &oe)
	assert.Equal(t, 2*time.Second, oe.Remaining)
	clk.Advance(2 * time.Second)
	require.NoError(t, guardCall(a, nil, time.Millisecond))
	require.NoError(t, guardCall(a, nil, time.Millisecond))
	assert.Empty(t, g.State().Destinations, "two successful probes close it")

	dest := semconv.NATSCircuitDestinationKey
	assert.EqualValues(t, 2, counterValue(t, reader, semconv.MetricCircuitRejected, dest.String("request svc.a")))
	assert.EqualValues(t, 2, counterValue(t, reader, semconv.MetricCircuitTransition, dest.String("request svc.a"),
		semconv.NATSCircuitToKey.String("open")))
	assert.Zero(t, counterValue(t, reader, semconv.MetricCircuitTransition, dest.String("request svc.b")))
}

// Caller mistakes, misses, no responders and connection errors never trip
// a destination breaker, however many.
func TestGateIgnoresCallerMistakes(t *testing.T) {
	g, _, _ := newTestGate(t)
	gd := g.Guard("js.publish", "orders.*", PolicyRequest)
	for range 200 {
		for _, err := range []error{nats.ErrNoResponders, jetstream.ErrNoStreamResponse, nats.ErrBadSubject,
			jetstream.ErrInvalidStreamName, nats.ErrMaxPayload, context.Canceled, jetstream.ErrKeyNotFound,
			nats.ErrConnectionClosed, &jetstream.APIError{Code: 400, ErrorCode: 10071}} {
			require.NoError(t, guardCall(gd, err, time.Millisecond))
		}
	}
	assert.Empty(t, g.State().Destinations)
}

func TestGateMaxDestinations(t *testing.T) {
	g, _, _ := newTestGate(t, WithMaxDestinations(2),
		WithDestinationOptions(WithConsecutiveFailures(1)))
	g.Guard("request", "a", PolicyRequest)
	g.Guard("request", "b", PolicyRequest)
	c := g.Guard("request", "c", PolicyRequest)
	for range 10 {
		assert.NoError(t, guardCall(c, nats.ErrTimeout, 0), "beyond the cap: connection health only")
	}
	assert.Empty(t, g.State().Destinations)
	var nilGate *Gate
	assert.Nil(t, nilGate.Guard("request", "x", PolicyRequest))
	var nilGuard *Guard
	done, err := nilGuard.Allow(context.Background())
	require.NoError(t, err)
	done(nats.ErrTimeout, 0)
	assert.Empty(t, nilGuard.Destination())
}

func TestGateDialBreaker(t *testing.T) {
	g, clk, _ := newTestGate(t)
	d := g.Dial()
	assert.Equal(t, semconv.CircuitConnect, d.Destination())
	for range 5 {
		require.NoError(t, guardCall(d, nats.ErrNoServers, time.Millisecond))
	}
	assert.ErrorIs(t, guardCall(d, nil, 0), ErrOpen)
	assert.Equal(t, StateOpen, g.State().Dial)
	assert.Empty(t, g.State().Destinations, "the connect breaker is not a destination")
	clk.Advance(time.Second)
	require.NoError(t, guardCall(d, nil, time.Millisecond))
	assert.Equal(t, StateClosed, g.State().Dial)
	// A caller mistake (bad credentials) is not a failed dial.
	for range 10 {
		require.NoError(t, guardCall(d, nats.ErrAuthorization, time.Millisecond))
	}
	assert.Equal(t, StateClosed, g.State().Dial)
}

// The connection-health layer on a real server: down past the grace, calls
// fail fast (dials don't); reconnected, they pass; events of a connection no
// longer watched are ignored.
func TestGateWatch(t *testing.T) {
	srv := natstest.RunServer(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	var changes []string
	var mu sync.Mutex
	g, err := NewGate("watch", WithMeterProvider(mp), WithGrace(30*time.Millisecond),
		WithOnGateStateChange(func(name, dest string, from, to State) {
			mu.Lock()
			changes = append(changes, fmt.Sprintf("%s %s %s->%s", name, dest, from, to))
			mu.Unlock()
		}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	userReconnects := make(chan struct{}, 1)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { userReconnects <- struct{}{} }))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	g.Watch(nil)
	g.Watch(nc)
	gd := g.Guard("request", "svc", PolicyRequest)
	require.NoError(t, guardCall(gd, nil, 0))

	srv.Stop()
	require.Eventually(t, func() bool { return g.State().Down > 0 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return g.State().Connection == StateOpen }, 5*time.Second, time.Millisecond)
	err = guardCall(gd, nil, 0)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.GreaterOrEqual(t, oe.Down, 30*time.Millisecond)
	assert.Equal(t, "request svc", oe.Destination)
	assert.Contains(t, err.Error(), `connection "watch" is disconnected`)
	assert.NoError(t, guardCall(g.Dial(), nil, 0), "dials are not gated by connection health")
	assert.Equal(t, "open", gateStateOf(t, reader, semconv.CircuitConnection))

	srv.Restart()
	select {
	case <-userReconnects:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect")
	}
	assert.Equal(t, StateClosed, g.State().Connection, "the gate's handler runs before the user's")
	assert.NoError(t, guardCall(gd, nil, 0))
	assert.Equal(t, "closed", gateStateOf(t, reader, semconv.CircuitConnection))

	// A newer connection replaces the watched one; the old one's events
	// no longer count.
	nc2, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	t.Cleanup(nc2.Close)
	g.Watch(nc2)
	nc.Close()
	srv.Stop()
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, StateOpen, g.State().Connection, "nc2 is down")
	nc2.Close()
	assert.Eventually(t, func() bool { return g.State().Connection == StateClosed }, 5*time.Second, time.Millisecond,
		"a closed connection is not gated: nats.go fails its calls at once")

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"watch connection closed->open", "watch connection open->closed",
		"watch connection closed->open", "watch connection open->closed",
	}, changes)
}

// gateStateOf returns the state whose gauge series is 1 for destination.
func gateStateOf(t *testing.T, r *sdkmetric.ManualReader, dest string) string {
	t.Helper()
	m, ok := collect(t, r)[semconv.MetricCircuitState]
	require.True(t, ok)
	cur := ""
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		if v, _ := dp.Attributes.Value(semconv.NATSCircuitDestinationKey); v.AsString() == dest && dp.Value == 1 {
			s, _ := dp.Attributes.Value(semconv.NATSCircuitStateKey)
			cur = s.AsString()
		}
	}
	return cur
}

// A grace of zero fails calls fast from the first disconnect event; the
// gauge observes every destination and the connection layer; Close
// unregisters it.
func TestGateGaugeAndClose(t *testing.T) {
	g, _, reader := newTestGate(t, WithGrace(0), WithDestinationOptions(WithConsecutiveFailures(1)))
	g.disconnected()
	assert.Equal(t, StateOpen, g.State().Connection)
	g.connected()
	gd := g.Guard("kv", "orders", PolicyRequest)
	require.NoError(t, guardCall(gd, nats.ErrTimeout, 0))
	assert.Equal(t, "open", gateStateOf(t, reader, "kv orders"))
	assert.Equal(t, "closed", gateStateOf(t, reader, semconv.CircuitConnection))
	assert.Equal(t, "closed", gateStateOf(t, reader, semconv.CircuitConnect))
	require.NoError(t, g.Close())
	_, ok := collect(t, reader)[semconv.MetricCircuitState]
	assert.False(t, ok, "Close unregisters the gauge")
}

// Stress: guards created, calls gated, events delivered and metrics
// collected concurrently. A watchdog fails the test with a goroutine dump
// if anything hangs; the race detector checks the rest.
func TestGateConcurrentStress(t *testing.T) {
	g, _, reader := newTestGate(t, WithGrace(time.Millisecond), WithMaxDestinations(50),
		WithDestinationOptions(WithFailureRate(0.5, 5)),
		WithOnGateStateChange(func(_, _ string, _, _ State) {}))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var calls atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				gd := g.Guard("request", fmt.Sprintf("d%d", (i+w)%80), PolicyRequest)
				var err error
				if i%3 == 0 {
					err = nats.ErrTimeout
				}
				_ = guardCall(gd, err, time.Duration(i%5)*time.Millisecond)
				calls.Add(1)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			g.disconnected()
			runtime.Gosched()
			g.connected()
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, reader.Collect(context.Background(), &rm))
			_ = g.State()
		}
	}()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("gate stress test hung; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	}
	assert.Positive(t, calls.Load())
	g.connected()
	assert.Equal(t, StateClosed, g.State().Connection)
}
