package circuit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
)

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// TestIntegrationServerOutage guards core requests to a real responder:
// the server stops, the breaker opens after the configured failures, calls
// fail fast without touching the connection, the server restarts, and after
// the open timeout a probe closes the breaker again.
func TestIntegrationServerOutage(t *testing.T) {
	srv := natstest.RunServer(t)
	responder := connect(t, srv.URL())
	var hits atomic.Int64
	_, err := responder.Subscribe("svc.echo", func(m *nats.Msg) {
		hits.Add(1)
		_ = m.Respond(m.Data)
	})
	require.NoError(t, err)
	require.NoError(t, responder.Flush())
	nc := connect(t, srv.URL())

	b, clk, reader, tr := newTest(t, WithConsecutiveFailures(3), WithOpenTimeout(30*time.Second))
	var calls atomic.Int64
	// Calls expected to succeed get a generous timeout (a loaded machine
	// must not fail them); calls made while the server is down time out
	// after outage.
	const ok, outage = 10 * time.Second, 200 * time.Millisecond
	request := func(timeout time.Duration) ([]byte, error) {
		return Do(context.Background(), b, func(ctx context.Context) ([]byte, error) {
			calls.Add(1)
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			m, err := nc.RequestWithContext(ctx, "svc.echo", []byte("ping"))
			if err != nil {
				return nil, err
			}
			return m.Data, nil
		})
	}

	for i := 0; i < 3; i++ {
		data, err := request(ok)
		require.NoError(t, err)
		require.Equal(t, "ping", string(data))
	}
	assert.Equal(t, int64(3), hits.Load())
	assert.Equal(t, "closed", gaugeState(t, reader, "test"))

	srv.Stop()
	for i := 0; i < 3; i++ {
		_, err := request(outage)
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrOpen, "call %d went to the network", i)
		assert.True(t, DefaultClassifier(err), "%v counts as a failure", err)
	}
	require.Equal(t, StateOpen, b.State())
	assert.Equal(t, "open", gaugeState(t, reader, "test"))

	// Fail fast: the rejected calls never reach fn, so nothing is published.
	callsBefore, outBefore := calls.Load(), nc.Stats().OutMsgs
	for i := 0; i < 5; i++ {
		_, err := request(ok)
		require.ErrorIs(t, err, ErrOpen)
		var oe *OpenError
		require.True(t, errors.As(err, &oe))
		assert.Equal(t, "test", oe.Name)
		assert.Equal(t, 30*time.Second, oe.Remaining)
	}
	assert.Equal(t, callsBefore, calls.Load(), "rejected calls ran fn")
	assert.Equal(t, outBefore, nc.Stats().OutMsgs, "rejected calls published")

	srv.Restart()
	require.Eventually(t, func() bool { return nc.IsConnected() && responder.IsConnected() },
		10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { // the responder's subscription is back
		_, err := nc.Request("svc.echo", nil, 200*time.Millisecond)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)

	// The server is back but the breaker's time is not up: still rejected.
	_, err = request(ok)
	require.ErrorIs(t, err, ErrOpen)
	assert.Equal(t, callsBefore, calls.Load())

	clk.Advance(30 * time.Second)
	assert.Equal(t, "half_open", gaugeState(t, reader, "test"), "gauge shows half-open before any call")
	hitsBefore := hits.Load()
	data, err := request(ok)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(data))
	assert.Equal(t, hitsBefore+1, hits.Load(), "the probe reached the responder")
	assert.Equal(t, StateClosed, b.State())
	assert.Equal(t, "closed", gaugeState(t, reader, "test"))

	assert.Equal(t, [][2]State{
		{StateClosed, StateOpen}, {StateOpen, StateHalfOpen}, {StateHalfOpen, StateClosed},
	}, tr.list())
	for _, c := range []struct{ from, to State }{
		{StateClosed, StateOpen}, {StateOpen, StateHalfOpen}, {StateHalfOpen, StateClosed},
	} {
		assert.Equal(t, int64(1), counterValue(t, reader, semconv.MetricCircuitTransition,
			semconv.NATSCircuitNameKey.String("test"),
			semconv.NATSCircuitFromKey.String(c.from.String()),
			semconv.NATSCircuitToKey.String(c.to.String())), "%s -> %s", c.from, c.to)
	}
	assert.Equal(t, int64(0), counterValue(t, reader, semconv.MetricCircuitTransition,
		semconv.NATSCircuitToKey.String("open"), semconv.NATSCircuitFromKey.String("half_open")))
	assert.Equal(t, int64(6), counterValue(t, reader, semconv.MetricCircuitRejected,
		semconv.NATSCircuitNameKey.String("test")))
}

// TestIntegrationSlowCalls trips the breaker on the slow-call rate of a
// responder that answers correctly but slowly: no call returns an error.
func TestIntegrationSlowCalls(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := connect(t, srv.URL())
	_, err := nc.Subscribe("svc.slow", func(m *nats.Msg) {
		time.Sleep(5 * time.Millisecond)
		_ = m.Respond(m.Data)
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("test")
	tr := &transitions{}

	// The real clock: durations are measured, not faked.
	b, err := New("slow", WithMeterProvider(mp), WithOnStateChange(tr.record),
		WithFailureRate(0.5, 4), WithSlowCalls(2*time.Millisecond, 0.5), WithOpenTimeout(time.Hour))
	require.NoError(t, err)
	defer b.Close()

	for i := 0; i < 4; i++ {
		assert.Equal(t, StateClosed, b.State(), "before call %d", i)
		ctx, span := tracer.Start(context.Background(), fmt.Sprintf("call-%d", i))
		data, err := Do(ctx, b, func(ctx context.Context) ([]byte, error) {
			m, err := nc.RequestWithContext(ctx, "svc.slow", []byte("hi"))
			if err != nil {
				return nil, err
			}
			return m.Data, nil
		})
		span.End()
		require.NoError(t, err, "a slow call is not an error")
		assert.Equal(t, "hi", string(data))
	}
	assert.Equal(t, StateOpen, b.State())
	assert.Equal(t, [][2]State{{StateClosed, StateOpen}}, tr.list())
	assert.Equal(t, "open", gaugeState(t, reader, "slow"))

	var reason string
	for _, s := range rec.Ended() {
		for _, e := range s.Events() {
			if e.Name != semconv.EventCircuitStateChange {
				continue
			}
			assert.Equal(t, "call-3", s.Name(), "the fourth call tripped the breaker")
			for _, kv := range e.Attributes {
				if kv.Key == semconv.NATSCircuitReasonKey {
					reason = kv.Value.AsString()
				}
			}
		}
	}
	assert.Equal(t, "slow_call_rate", reason)

	_, err = Do(context.Background(), b, func(ctx context.Context) ([]byte, error) {
		t.Error("an open breaker ran the call")
		return nil, nil
	})
	require.ErrorIs(t, err, ErrOpen)
}
