package scope

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// telemetryOptions carries the providers given to [NewPool].
type telemetryOptions struct{}

// poolTelemetry wires connection metrics, the circuit gate and the
// instrumented handles into a pool. It is the hook point of the dial path.
type poolTelemetry struct{}

func newPoolTelemetry(*telemetryOptions) *poolTelemetry { return &poolTelemetry{} }

// natsOptions returns extra nats.go options (event handlers) for a dial.
func (t *poolTelemetry) natsOptions(*Config) []nats.Option { return nil }

// gate is consulted before every connect attempt.
func (t *poolTelemetry) gate(context.Context, *Config) (func(error, time.Duration), error) {
	return func(error, time.Duration) {}, nil
}

// connected records one connect attempt.
func (t *poolTelemetry) connected(context.Context, *Config, time.Duration, error) {}

// closed records a pooled connection going away.
func (t *poolTelemetry) closed(*pooledConn) {}

// wrapJetStream returns the JetStream handle handed to scopes.
func (t *poolTelemetry) wrapJetStream(_ *pooledConn, js jetstream.JetStream) jetstream.JetStream {
	return js
}
