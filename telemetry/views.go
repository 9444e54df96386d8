package telemetry

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/naq-io/naq/internal/semconv"
)

// naqScopePrefix selects naq's own instruments for the views.
const naqScopePrefix = "github.com/naq-io/naq"

// DurationBuckets returns the explicit histogram boundaries, in seconds, of
// naq's duration histograms (messaging.client.operation.duration,
// messaging.process.duration, nats.client.connect.duration): 50 µs, 100 µs,
// 250 µs, 500 µs, 1 ms, 2.5 ms, 5 ms, 10 ms, 25 ms, 50 ms, 100 ms, 250 ms,
// 500 ms, 1 s, 2.5 s, 5 s and 10 s. They resolve loopback latency, where
// OpenTelemetry's default buckets (meant for milliseconds) would put every
// NATS call in the first bucket. Each call returns a new slice.
func DurationBuckets() []float64 { return semconv.DurationBuckets() }

// Views returns the metric views [Setup] installs, for applications that
// build their own sdkmetric.MeterProvider:
//
//	mp := sdkmetric.NewMeterProvider(
//		sdkmetric.WithReader(reader),
//		sdkmetric.WithView(telemetry.Views()...),
//	)
//
// With them naq's instruments get the same names, units and buckets as under
// [Setup], whatever the reader:
//
//   - naq's dimensionless gauges (unit "1": nats.client.connected,
//     nats.client.circuit.state) lose the unit, so Prometheus translation
//     (the exporter, or Prometheus' own OTLP receiver) names them
//     nats_client_connected and nats_client_circuit_state as in the names
//     table, without the "_ratio" suffix it gives unit "1" gauges;
//   - naq's duration histograms (unit "s", name ending in ".duration") use
//     [DurationBuckets] as an explicit-bucket histogram even when the reader
//     or OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION asks for
//     another histogram aggregation: naq's dashboards and alerts read their
//     _bucket series.
//
// The views match only instruments whose instrumentation scope starts with
// github.com/naq-io/naq; other libraries' instruments keep the SDK's
// defaults. If one of your own views also matches a naq instrument, the SDK
// creates a stream per matching view; keep yours to other scopes.
func Views() []sdkmetric.View {
	return []sdkmetric.View{dimensionlessView, durationView}
}

// dimensionlessView drops the unit "1" from naq's own instruments. The
// Prometheus translator appends "_ratio" to gauges with unit "1", which
// would turn nats.client.connected into nats_client_connected_ratio instead
// of the nats_client_connected of the names table.
func dimensionlessView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Unit != semconv.UnitDimless || !strings.HasPrefix(i.Scope.Name, naqScopePrefix) {
		return sdkmetric.Stream{}, false
	}
	return sdkmetric.Stream{Name: i.Name, Description: i.Description}, true
}

// durationView pins naq's duration histograms to the explicit buckets, so a
// reader preferring exponential histograms does not change them.
func durationView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Kind != sdkmetric.InstrumentKindHistogram || i.Unit != semconv.UnitSeconds ||
		!strings.HasSuffix(i.Name, ".duration") || !strings.HasPrefix(i.Scope.Name, naqScopePrefix) {
		return sdkmetric.Stream{}, false
	}
	return sdkmetric.Stream{
		Name:        i.Name,
		Description: i.Description,
		Unit:        i.Unit,
		Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: DurationBuckets()},
	}, true
}

// NewPrometheusReader returns a metric reader that registers naq's metrics
// (and every other instrument of the MeterProvider it is added to) into
// reg, translated exactly as [Setup] does: underscore escaping with unit and
// _total suffixes, so the names are those of naq's names table when the
// provider also has [Views]. Use it to serve naq's metrics from an existing
// client_golang registry and its /metrics handler:
//
//	reader, err := telemetry.NewPrometheusReader(reg)
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(telemetry.Views()...))
//
// A nil reg means prometheus.DefaultRegisterer (served by promhttp.Handler).
// With [Setup], use [WithPrometheusRegisterer] instead. The error is the
// exporter's (a registration conflict in reg).
func NewPrometheusReader(reg prometheus.Registerer) (sdkmetric.Reader, error) {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	return otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
}
