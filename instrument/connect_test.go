package instrument

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
)

func TestConnect(t *testing.T) {
	srv := runServer(t)
	down := runServer(t)
	downURL := down.URL()
	down.Stop()

	tel := newTelemetry(t)
	g, err := circuit.NewGate("connect-test", circuit.WithMeterProvider(tel.mp),
		circuit.WithDialOptions(circuit.WithConsecutiveFailures(1), circuit.WithOpenTimeout(time.Hour), circuit.WithOpenBackoff(1, time.Hour)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	opts := tel.opts(WithGate(g), WithConnectionName("svc"))
	ctx := context.Background()

	// A good dial: span, metric, the connection returned as dialed.
	var raw *nats.Conn
	nc, err := Connect(ctx, func(ctx context.Context) (*nats.Conn, error) {
		assert.True(t, trace.SpanContextFromContext(ctx).IsValid(), "dial runs inside the connect span")
		var err error
		raw, err = nats.Connect(srv.URL())
		return raw, err
	}, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	assert.Same(t, raw, nc)
	s := spanNamed(t, tel.spans(), "connect")
	assert.Equal(t, trace.SpanKindClient, s.SpanKind())
	assertAttrs(t, s.Attributes(), semconv.System, opAttr("connect"),
		semconv.NATSConnectionKey.String("svc"),
		semconv.ServerAddressKey.String("127.0.0.1"), semconv.ServerPortKey.Int(srv.Port()))
	assertNoAttr(t, s.Attributes(), semconv.MessagingOperationTypeKey)
	assertOK(t, s)
	p := pointWith(t, tel.histPoints(t, semconv.MetricOperationDuration), opAttr("connect"))
	assert.EqualValues(t, 1, p.Count)
	_, hasErr := p.Attributes.Value(semconv.ErrorTypeKey)
	assert.False(t, hasErr)
	assert.InDelta(t, s.EndTime().Sub(s.StartTime()).Seconds(), p.Sum, 1e-9, "metric duration equals span duration")

	// A failed dial: the error unchanged, error.type from the one vocabulary.
	dials := 0
	failing := func(context.Context) (*nats.Conn, error) {
		dials++
		return nats.Connect(downURL, nats.Timeout(time.Second))
	}
	_, err = Connect(ctx, failing, opts...)
	require.Error(t, err)
	assert.ErrorIs(t, err, nats.ErrNoServers)
	assert.Equal(t, 1, dials)
	rm := tel.collect(t)
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricOperationDuration, opAttr("connect"), errAttr("no_servers")))
	spans := tel.spans()
	require.Len(t, spans, 2)
	assertFailed(t, spans[1], "no_servers")
	assertNoAttr(t, spans[1].Attributes(), semconv.ServerAddressKey)
	assert.Equal(t, circuit.StateOpen, g.State().Dial, "the connect breaker saw the failure")

	// The open breaker rejects the next attempt without dialing.
	_, err = Connect(ctx, failing, opts...)
	assert.ErrorIs(t, err, circuit.ErrOpen)
	assert.Equal(t, 1, dials, "a rejected attempt does not dial")
	spans = tel.spans()
	require.Len(t, spans, 3)
	assert.Equal(t, "connect", spans[2].Name())
	assertFailed(t, spans[2], semconv.ErrorTypeCircuitOpen)
	assert.EqualValues(t, 1, histCount(tel.collect(t), semconv.MetricOperationDuration,
		opAttr("connect"), errAttr(semconv.ErrorTypeCircuitOpen)))
}

func TestConnectStraightThrough(t *testing.T) {
	tel := newTelemetry(t)
	errDial := errors.New("dial failed")
	called := false
	nc, err := Connect(context.Background(), func(ctx context.Context) (*nats.Conn, error) {
		called = true
		assert.False(t, trace.SpanContextFromContext(ctx).IsValid(), "filtered: no span")
		return nil, errDial
	}, tel.opts(WithFilter(func(op, _ string) bool { return op != semconv.OpConnect }))...)
	assert.True(t, called)
	assert.Nil(t, nc)
	assert.Same(t, errDial, err)
	assert.Empty(t, tel.spans())

	_, err = Connect(context.Background(), nil, tel.opts()...)
	assert.ErrorIs(t, err, metrics.ErrNilDial)
}
