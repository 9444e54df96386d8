package telemetry_test

import (
	"context"
	"fmt"
	"net/http"
	"os"

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
