package instrument

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
)

// ErrNilDial is returned by [Connect] for a nil dial function: "instrument:
// nil dial function". For compatibility it also matches metrics.ErrNilDial
// (errors.Is), which Connect returned before.
var ErrNilDial error = nilDialError{}

type nilDialError struct{}

func (nilDialError) Error() string { return "instrument: nil dial function" }

// Is matches metrics.ErrNilDial.
func (nilDialError) Is(target error) bool { return target == metrics.ErrNilDial }

// Connect runs one connect attempt, dial, through the operation pipeline
// every wrapper uses: the connect breaker of the gate set with [WithGate]
// is asked first (an open breaker rejects the attempt without calling dial, with an error that
// matches circuit.ErrOpen, recorded as error.type=circuit_open), then dial
// runs inside a CLIENT span "connect" (messaging.system=nats,
// messaging.operation.name=connect, nats.connection.name from
// [WithConnectionName]), and its duration is recorded in
// messaging.client.operation.duration with messaging.operation.name=connect
// (plus error.type on failure, from the one naq vocabulary,
// metrics.ErrorType). On success the span gets server.address and
// server.port of the server connected to (from the redacted URL, never
// credentials). The outcome and duration are reported to the gate as for
// any call ([ErrorClassifier] applies).
//
// dial receives a context carrying the connect span; its connection and
// error are returned unchanged (errors.Is(err, nats.ErrNoServers) still
// holds). A nil ctx means context.Background(). A nil dial returns
// [ErrNilDial] at once (no span, no metric, no gate). With a [Filter] that
// rejects (op "connect", destination ""), or with noop providers and no
// gate, dial is called straight through.
//
// Connect builds its pipeline on every call: it resolves opts (reading the
// otel globals for missing providers), gets the tracer and looks up the
// messaging instruments on the MeterProvider (the SDK returns instruments
// it already created), a few microseconds and allocations next to a dial
// that takes at least a network round trip. Connecting is not a hot path;
// operations on the connection go through [NewConn] and the JetStream
// wrappers, which build their pipeline once. Connect is safe for
// concurrent use.
func Connect(ctx context.Context, dial func(context.Context) (*nats.Conn, error), opts ...Option) (*nats.Conn, error) {
	if dial == nil {
		return nil, ErrNilDial
	}
	if ctx == nil {
		ctx = context.Background()
	}
	p := newPipeline(nil, opts)
	s := p.spec(specConfig{Op: semconv.OpConnect, Kind: trace.SpanKindClient, Gate: semconv.CircuitConnect, Policy: circuit.PolicyDial})
	if !s.active() {
		return dial(ctx)
	}
	var c call
	ctx, err := p.begin(ctx, s, &c)
	if err != nil {
		return nil, err
	}
	defer c.finish(&err)
	nc, err := dial(ctx)
	if err == nil && c.recording() {
		if host, port := serverAddress(nc); host != "" {
			c.setAttributes(semconv.ServerAddressKey.String(host))
			if port > 0 {
				c.setAttributes(semconv.ServerPortKey.Int(port))
			}
		}
	}
	return nc, err
}
