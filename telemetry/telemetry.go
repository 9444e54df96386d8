package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/internal/version"
)

// ScopeName is the instrumentation scope name of every naq tracer and meter
// (the module path, the same in every naq package): filter on it to select
// naq's telemetry in views and processors.
const ScopeName = version.ScopeName

// Version is the version of the naq telemetry package.
const Version = version.Version

// ErrInvalidOption is wrapped by the error [Setup] returns for a bad option
// or environment value (an unknown OTLP protocol or traces exporter).
var ErrInvalidOption = errors.New("telemetry: invalid option")

// ErrShutdown is returned by [Telemetry.Shutdown] when it is called again.
var ErrShutdown = errors.New("telemetry: already shut down")

// Protocol values for OTEL_EXPORTER_OTLP_PROTOCOL and [WithOTLPProtocol].
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
)

// Environment variable names read by [Setup] itself (the SDK and the
// exporters read the others).
const (
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envTracesExporter = "OTEL_TRACES_EXPORTER"

	envMetricsEndpoint = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	envMetricsProtocol = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	envMetricsExporter = "OTEL_METRICS_EXPORTER"
)

// Telemetry is the result of [Setup]: the providers, the /metrics handler
// and their shutdown. Its methods are safe for concurrent use.
type Telemetry struct {
	tp       trace.TracerProvider
	sdkTP    *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	prop     propagation.TextMapPropagator
	handler  http.Handler
	res      *resource.Resource
	exporter string
	// metricsExporters names where metrics go, in order.
	metricsExporters []string
	shutdownMu       sync.Mutex
	shutdown         bool
}

// Setup builds the SDK providers from opts and the OTEL_* environment (see
// the package documentation). Call [Telemetry.Shutdown] when done; it
// flushes pending spans and metrics. On error nothing is left running.
func Setup(ctx context.Context, opts ...Option) (*Telemetry, error) {
	cfg := config{serviceName: DefaultServiceName}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}

	res, err := newResource(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{
		res:      res,
		exporter: "none",
		prop:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}

	// Exporter choices first: a bad option or variable fails before
	// anything starts.
	otlpOn, err := otlpEnabled(&cfg)
	if err != nil {
		return nil, err
	}
	promOn, otlpMetricsOn, err := metricsExporters(&cfg)
	if err != nil {
		return nil, err
	}

	// Traces.
	var tpOpts []sdktrace.TracerProviderOption
	tpOpts = append(tpOpts, sdktrace.WithResource(res))
	if cfg.sampler != nil {
		tpOpts = append(tpOpts, sdktrace.WithSampler(cfg.sampler))
	}
	if otlpOn {
		exp, name, err := newOTLP(ctx, &cfg)
		if err != nil {
			return nil, err
		}
		t.exporter = name
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	for _, sp := range cfg.processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	if otlpOn || len(cfg.processors) > 0 {
		t.sdkTP = sdktrace.NewTracerProvider(tpOpts...)
		t.tp = t.sdkTP
	} else {
		t.tp = tracenoop.NewTracerProvider()
	}

	// Metrics: OTLP (nothing registered anywhere yet if it fails), then
	// Prometheus.
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithView(Views()...)}
	var otlpMetrics sdkmetric.Exporter
	if otlpMetricsOn {
		exp, name, err := newOTLPMetrics(ctx, &cfg)
		if err != nil {
			t.shutdownTraces(ctx)
			return nil, err
		}
		otlpMetrics = exp
		mpOpts = append(mpOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		t.metricsExporters = append(t.metricsExporters, name)
	}
	t.handler = http.NotFoundHandler()
	if promOn {
		reg := cfg.promReg
		if reg == nil {
			reg = prometheus.NewRegistry()
		}
		exp, err := NewPrometheusReader(reg)
		if err != nil {
			t.shutdownTraces(ctx)
			if otlpMetrics != nil {
				_ = otlpMetrics.Shutdown(ctx)
			}
			return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(exp))
		t.metricsExporters = append([]string{"prometheus"}, t.metricsExporters...)
		// OpenMetrics (when the scraper asks for it, as Prometheus does)
		// carries exemplars: the trace id of a sampled span recorded with a
		// histogram value, so a latency spike links to its trace.
		if g, ok := reg.(prometheus.Gatherer); ok {
			t.handler = promhttp.HandlerFor(g, promhttp.HandlerOpts{
				ErrorHandling:     promhttp.ContinueOnError,
				EnableOpenMetrics: true,
			})
		}
	}
	for _, r := range cfg.readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	t.mp = sdkmetric.NewMeterProvider(mpOpts...)

	if cfg.global {
		otel.SetTracerProvider(t.tp)
		otel.SetMeterProvider(t.mp)
		otel.SetTextMapPropagator(t.prop)
	}
	return t, nil
}

func newResource(ctx context.Context, cfg *config) (*resource.Resource, error) {
	attrs := append([]attribute.KeyValue{semconv.ServiceNameKey.String(cfg.serviceName)}, cfg.attrs...)
	if cfg.serviceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersionKey.String(cfg.serviceVersion))
	}
	// Later detectors override earlier ones: defaults, then options, then
	// the environment.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	if err != nil {
		// A partial resource (e.g. a malformed OTEL_RESOURCE_ATTRIBUTES
		// entry) is still usable; report and go on.
		otel.Handle(fmt.Errorf("telemetry: resource: %w", err))
	}
	return res, nil
}

func otlpEnabled(cfg *config) (bool, error) {
	switch cfg.otlp {
	case otlpOn:
		return true, nil
	case otlpOff:
		return false, nil
	}
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(envTracesExporter))); v {
	case "none":
		return false, nil
	case "otlp":
		return true, nil
	case "":
	default:
		return false, fmt.Errorf("%w: %s=%q: allowed are \"otlp\" and \"none\"", ErrInvalidOption, envTracesExporter, v)
	}
	return os.Getenv(envEndpoint) != "" || os.Getenv(envTracesEndpoint) != "", nil
}

// protocol resolves the OTLP transport: option, then the signal-specific
// variable (signalEnv), then the general one, then http/protobuf.
func protocol(cfg *config, signalEnv string) (string, error) {
	p := cfg.otlpProtocol
	src := "WithOTLPProtocol"
	if p == "" {
		p, src = os.Getenv(signalEnv), signalEnv
	}
	if p == "" {
		p, src = os.Getenv(envProtocol), envProtocol
	}
	switch p {
	case "", ProtocolHTTPProtobuf:
		return ProtocolHTTPProtobuf, nil
	case ProtocolGRPC:
		return ProtocolGRPC, nil
	}
	return "", fmt.Errorf("%w: %s=%q: allowed are %q and %q", ErrInvalidOption, src, p, ProtocolGRPC, ProtocolHTTPProtobuf)
}

func newOTLP(ctx context.Context, cfg *config) (sdktrace.SpanExporter, string, error) {
	return otlpExporter(ctx, cfg, envTracesProtocol, "exporter",
		func(ctx context.Context) (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, endpointOption(cfg.otlpEndpoint, otlptracegrpc.WithEndpointURL)...)
		},
		func(ctx context.Context) (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, endpointOption(cfg.otlpEndpoint, otlptracehttp.WithEndpointURL)...)
		})
}

// otlpExporter builds an OTLP exporter for the protocol resolved from env:
// with newGRPC for "grpc", else with newHTTP. what names the exporter in
// the error ("telemetry: otlp grpc <what>: ...").
func otlpExporter[E any](ctx context.Context, cfg *config, env, what string, newGRPC, newHTTP func(context.Context) (E, error)) (E, string, error) {
	var zero E
	p, err := protocol(cfg, env)
	if err != nil {
		return zero, "", err
	}
	transport, newExp := "http", newHTTP
	if p == ProtocolGRPC {
		transport, newExp = "grpc", newGRPC
	}
	exp, err := newExp(ctx)
	if err != nil {
		return zero, "", fmt.Errorf("telemetry: otlp %s %s: %w", transport, what, err)
	}
	return exp, "otlp/" + p, nil
}

// endpointOption returns the exporter option that sets url, none when url
// is empty (the exporter then reads the environment).
func endpointOption[O any](url string, with func(string) O) []O {
	if url == "" {
		return nil
	}
	return []O{with(url)}
}

// TracerProvider returns the tracer provider to pass to naq's wrappers. It
// is an SDK provider when spans go somewhere (OTLP or a span processor),
// otherwise a no-op provider, so an app without a trace backend pays
// nothing for spans.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the SDK meter provider feeding /metrics and any
// reader added with [WithMetricReader].
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator returns the W3C trace-context and baggage propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// MetricsHandler serves the metrics in the Prometheus text format, or in
// OpenMetrics with exemplars (trace ids of sampled spans) when the scraper
// asks for it (mount it at /metrics). It answers 404 with
// [WithoutPrometheus].
func (t *Telemetry) MetricsHandler() http.Handler { return t.handler }

// Resource returns the resource attached to every span and metric.
func (t *Telemetry) Resource() *resource.Resource { return t.res }

// MetricsExporters names where metrics go, in this order: "prometheus"
// (the /metrics handler, or the registry of [WithPrometheusRegisterer]),
// then "otlp/grpc" or "otlp/http/protobuf". Readers added with
// [WithMetricReader] are not listed. An empty list means the meter provider
// only feeds those readers.
func (t *Telemetry) MetricsExporters() []string { return slices.Clone(t.metricsExporters) }

// TracesExporter names where spans are exported: "otlp/grpc",
// "otlp/http/protobuf" or "none" (span processors added with
// [WithSpanProcessor] are not counted).
func (t *Telemetry) TracesExporter() string { return t.exporter }

// shutdownTraces stops the tracer provider when Setup fails after creating
// it, so nothing is left running.
func (t *Telemetry) shutdownTraces(ctx context.Context) {
	if t.sdkTP != nil {
		_ = t.sdkTP.Shutdown(ctx)
	}
}

// ForceFlush exports pending spans and pushes metrics to OTLP (and any
// other push reader).
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	var err error
	if t.sdkTP != nil {
		err = t.sdkTP.ForceFlush(ctx)
	}
	return errors.Join(err, t.mp.ForceFlush(ctx))
}

// Shutdown flushes pending spans, stops the exporters and the meter
// provider, and releases their goroutines. It is bounded by ctx. A second
// call returns [ErrShutdown].
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownMu.Lock()
	defer t.shutdownMu.Unlock()
	if t.shutdown {
		return ErrShutdown
	}
	t.shutdown = true
	var err error
	if t.sdkTP != nil {
		if e := t.sdkTP.Shutdown(ctx); e != nil {
			err = fmt.Errorf("telemetry: tracer provider shutdown: %w", e)
		}
	}
	if e := t.mp.Shutdown(ctx); e != nil {
		err = errors.Join(err, fmt.Errorf("telemetry: meter provider shutdown: %w", e))
	}
	return err
}
