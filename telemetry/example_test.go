package telemetry_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/metrics"
	"github.com/naq-io/naq/telemetry"
)

// ExampleSetup sets up telemetry for an application: OTLP traces when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, Prometheus metrics on /metrics.
func ExampleSetup() {
	os.Unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	os.Unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	os.Unsetenv("OTEL_TRACES_EXPORTER")

	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.WithServiceName("orders"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)

	mux := http.NewServeMux()
	mux.Handle("/metrics", tel.MetricsHandler())
	// Pass tel.TracerProvider() and tel.MeterProvider() to naq's wrappers,
	// e.g. instrument.NewConn(nc, instrument.WithTracerProvider(...)).
	fmt.Println("traces:", tel.TracesExporter())
	// Output: traces: none
}

// ExampleSpanSummary counts spans per name for a terminal summary.
func ExampleSpanSummary() {
	ctx := context.Background()
	sum := telemetry.NewSpanSummary()
	tel, err := telemetry.Setup(ctx, telemetry.WithoutOTLP(), telemetry.WithSpanProcessor(sum))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)

	tr := tel.TracerProvider().Tracer("example")
	for range 2 {
		_, sp := tr.Start(ctx, "publish orders.*")
		sp.End()
	}
	for _, st := range sum.Stats() {
		fmt.Println(st.Name, st.Count, st.Errors)
	}
	// Output: publish orders.* 2 0
}

// ExampleViews gives an application's own MeterProvider naq's names,
// units and buckets: the same views telemetry.Setup installs.
func ExampleViews() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(reader),
		sdkmetric.WithView(telemetry.Views()...),
	)
	defer mp.Shutdown(ctx)

	// naq records its instruments on mp once you pass it: the wrappers,
	// e.g. instrument.NewConn(nc, instrument.WithMeterProvider(mp)), and a
	// Recorder, here counting a 300 µs dial its caller timed.
	rec := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	rec.RecordDial(ctx, "orders", 300*time.Microsecond, nil)

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
			fmt.Println(m.Name, m.Unit, h.DataPoints[0].Bounds[:3])
		}
	}
	// Output: nats.client.connect.duration s [5e-05 0.0001 0.00025]
}

// ExampleWithPrometheusRegisterer serves naq's metrics from the
// application's existing client_golang registry and /metrics handler.
func ExampleWithPrometheusRegisterer() {
	ctx := context.Background()
	reg := prometheus.NewRegistry() // the application's registry
	tel, err := telemetry.Setup(ctx, telemetry.WithPrometheusRegisterer(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)

	mux := http.NewServeMux() // the application's mux
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	fmt.Println(tel.MetricsExporters())
	// Output: [prometheus]
}

// ExampleNewPrometheusReader adds naq's metrics to an existing registry
// from an application's own MeterProvider.
func ExampleNewPrometheusReader() {
	reg := prometheus.NewRegistry() // the application's registry
	reader, err := telemetry.NewPrometheusReader(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(telemetry.Views()...))
	defer mp.Shutdown(context.Background())

	// A Recorder on mp counts a dial (as a scope pool does for each of its
	// connections).
	metrics.NewRecorder(metrics.WithMeterProvider(mp)).RecordDial(context.Background(), "orders", time.Millisecond, nil)
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() == "nats_client_connections_opened_total" {
			fmt.Println(f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output: nats_client_connections_opened_total 1
}

// ExampleNewSpanPrinter prints every span as it ends, one line each.
func ExampleNewSpanPrinter() {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.WithoutOTLP(),
		telemetry.WithSpanProcessor(telemetry.NewSpanPrinter(os.Stdout)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)

	_, sp := tel.TracerProvider().Tracer("example").Start(ctx, "publish orders.*")
	sp.End() // prints "15:04:05.000 publish orders.* kind=internal duration=… trace_id=… span_id=… parent_id=-"
}

// ExampleSetup_otlpMetrics pushes metrics by OTLP next to /metrics, as
// OTEL_METRICS_EXPORTER=prometheus,otlp would.
func ExampleSetup_otlpMetrics() {
	os.Unsetenv("OTEL_METRICS_EXPORTER")
	os.Unsetenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
	os.Unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.WithOTLPMetricsEndpoint("http://collector:4318"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)
	fmt.Println(tel.MetricsExporters())
	// Output: [prometheus otlp/http/protobuf]
}
