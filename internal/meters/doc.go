// Package meters creates naq's OpenTelemetry instruments: the bundles that
// naq's own code records into, with the names, units, descriptions and
// explicit buckets of the one names table (internal/semconv), on the meter
// of naq's one identity ([Meter]).
//
//   - [NewMessaging]: the semantic-convention messaging instruments the
//     instrument pipeline records on every operation.
//   - [NewConnection]: the nats.client.* connection instruments that
//     metrics.Recorder records and metrics.Observer observes.
//   - [NewConsumerHealth]: the consumer-health instruments the instrument
//     package records from every delivered JetStream message.
//
// The constructors never fail: an instrument that cannot be created is
// reported through otel.Handle and replaced by a no-op one. Applications do
// not use this package: the wrappers (instrument, scope) and
// metrics.Recorder record these instruments for them.
package meters
