// Package metrics defines naq's OpenTelemetry instruments and connection-level
// measurements.
//
// [NewMessaging] creates the semantic-convention messaging instruments that the
// instrument pipeline records on every operation; [NewConnection] creates the
// nats.client.* connection instruments. Names, units and the explicit duration
// buckets come from naq's one names table (internal/semconv).
//
// The package imports only the OpenTelemetry API: pass an SDK MeterProvider to
// export, or leave it nil to use the global one.
package metrics
