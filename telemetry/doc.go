// Package telemetry sets up the OpenTelemetry SDK for an application or the
// naq CLI in one call: traces exported by OTLP, metrics served in the
// Prometheus text format and/or pushed by OTLP, and a resource built from
// the standard OTEL_* environment variables.
//
// [Setup] returns a [*Telemetry] whose [Telemetry.TracerProvider] and
// [Telemetry.MeterProvider] are passed to naq's wrappers (or installed as
// the otel globals with [WithGlobal]), whose [Telemetry.MetricsHandler] serves
// /metrics, and whose [Telemetry.Shutdown] flushes and stops everything.
//
// Environment variables honoured:
//
//   - OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setting
//     either turns on OTLP trace export (otherwise traces are not exported
//     unless [WithOTLP] or [WithOTLPEndpoint] is given). Headers, timeout,
//     compression, insecure and certificate variables are read by the
//     exporter itself.
//   - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
//     else OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" or "http/protobuf" (the
//     default).
//   - OTEL_TRACES_EXPORTER: "none" turns OTLP export off, "otlp" turns it on.
//   - OTEL_METRICS_EXPORTER: a comma-separated list of "prometheus" (the
//     /metrics handler), "otlp" (push) and "none". Unset, Prometheus is on
//     and OTLP metric export is on only when
//     OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set (the general endpoint alone
//     does not turn it on: it often names a trace backend that takes no
//     metrics). The OTLP metric exporter reads its endpoint
//     (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT),
//     headers, temporality preference and default histogram aggregation
//     itself; the SDK reads OTEL_METRIC_EXPORT_INTERVAL (default 60 s).
//     Options ([WithOTLPMetrics], [WithPrometheus], ...) win over it.
//   - OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG: read by the SDK's
//     TracerProvider unless [WithSampler] overrides them.
//   - OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: merged over the defaults
//     ([WithServiceName], else "naq").
//
// Prometheus names come out exactly as in naq's names table
// (messaging_client_operation_duration_seconds_bucket,
// nats_client_connections_active, nats_client_circuit_state, ...): the
// exporter uses underscore escaping with unit and _total suffixes, and naq's
// dimensionless gauges are exported without the "_ratio" suffix the
// translator would otherwise add. Metrics go to a private
// prometheus.Registry, never the default one, unless
// [WithPrometheusRegisterer] names the application's own registry. A scraper
// that asks for OpenMetrics (Prometheus does) also gets exemplars: the trace
// id of a sampled span next to the histogram bucket its value landed in.
//
// Applications with their own SDK setup use [Views] (the views Setup
// installs: no unit on naq's dimensionless gauges, [DurationBuckets] on its
// duration histograms) and [NewPrometheusReader] (the Prometheus exporter
// as Setup configures it, registering into a given registry).
//
// [SpanSummary] is a span processor that only counts finished spans per name
// (no attributes, no payloads) and prints a short table: the CLI's
// --traces=stdout. [SpanPrinter] writes one compact line per span as it
// ends ([FormatSpan]): the CLI's --traces=stdout-spans.
//
// This is the only naq package that imports the OpenTelemetry SDK and
// exporters; the library packages import only the API.
package telemetry
