package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Values of OTEL_METRICS_EXPORTER that [Setup] understands.
const (
	metricsExporterOTLP       = "otlp"
	metricsExporterPrometheus = "prometheus"
	metricsExporterNone       = "none"
)

// metricsExporters decides which metric exporters run. Options win; then
// OTEL_METRICS_EXPORTER, a comma-separated list of "prometheus", "otlp" and
// "none"; unset, Prometheus is on and OTLP is on only when
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set. The general
// OTEL_EXPORTER_OTLP_ENDPOINT alone does not turn metric export on: it often
// points at a trace backend (Jaeger) that takes no metrics, and naq's
// metrics default to Prometheus.
func metricsExporters(cfg *config) (prom, otlp bool, err error) {
	prom = true
	otlp = os.Getenv(envMetricsEndpoint) != ""
	if v := strings.TrimSpace(os.Getenv(envMetricsExporter)); v != "" {
		prom, otlp = false, false
		for _, e := range strings.Split(v, ",") {
			switch e = strings.ToLower(strings.TrimSpace(e)); e {
			case metricsExporterPrometheus:
				prom = true
			case metricsExporterOTLP:
				otlp = true
			case metricsExporterNone:
			default:
				return false, false, fmt.Errorf("%w: %s=%q: allowed are a comma-separated list of %q, %q and %q",
					ErrInvalidOption, envMetricsExporter, v, metricsExporterPrometheus, metricsExporterOTLP, metricsExporterNone)
			}
		}
	}
	switch cfg.prometheus {
	case otlpOn:
		prom = true
	case otlpOff:
		prom = false
	}
	switch cfg.otlpMetrics {
	case otlpOn:
		otlp = true
	case otlpOff:
		otlp = false
	}
	return prom, otlp, nil
}

// newOTLPMetrics builds the OTLP metric exporter for the resolved protocol.
// The exporter itself reads the endpoint, headers, timeout, compression,
// certificate, temporality and default-histogram variables.
func newOTLPMetrics(ctx context.Context, cfg *config) (sdkmetric.Exporter, string, error) {
	return otlpExporter(ctx, cfg, envMetricsProtocol, "metric exporter",
		func(ctx context.Context) (sdkmetric.Exporter, error) {
			return otlpmetricgrpc.New(ctx, endpointOption(cfg.metricsEndpt, otlpmetricgrpc.WithEndpointURL)...)
		},
		func(ctx context.Context) (sdkmetric.Exporter, error) {
			return otlpmetrichttp.New(ctx, endpointOption(cfg.metricsEndpt, otlpmetrichttp.WithEndpointURL)...)
		})
}
