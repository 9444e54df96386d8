package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultServiceName is the service.name used when neither
// [WithServiceName] nor OTEL_SERVICE_NAME (or service.name in
// OTEL_RESOURCE_ATTRIBUTES) sets one.
const DefaultServiceName = "naq"

// Option configures [Setup]. Options never fail; a nil argument is ignored.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// otlpMode says whether an exporter was forced on or off by an option, or
// is left to the environment.
type otlpMode int

const (
	otlpFromEnv otlpMode = iota
	otlpOn
	otlpOff
)

type config struct {
	serviceName    string
	serviceVersion string
	attrs          []attribute.KeyValue
	otlp           otlpMode
	otlpEndpoint   string
	otlpProtocol   string
	sampler        sdktrace.Sampler
	processors     []sdktrace.SpanProcessor
	readers        []sdkmetric.Reader
	global         bool

	prometheus   otlpMode // from OTEL_METRICS_EXPORTER, or forced
	promReg      prometheus.Registerer
	otlpMetrics  otlpMode
	metricsEndpt string
}

// WithServiceName sets the default service.name resource attribute.
// OTEL_SERVICE_NAME and service.name in OTEL_RESOURCE_ATTRIBUTES still win,
// as the specification requires. Default: [DefaultServiceName]. An empty
// name is ignored.
func WithServiceName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.serviceName = name
		}
	})
}

// WithServiceVersion sets the service.version resource attribute. Default:
// unset.
func WithServiceVersion(version string) Option {
	return optionFunc(func(c *config) { c.serviceVersion = version })
}

// WithResourceAttributes adds attributes to the resource. The environment
// (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) overrides them.
func WithResourceAttributes(attrs ...attribute.KeyValue) Option {
	return optionFunc(func(c *config) { c.attrs = append(c.attrs, attrs...) })
}

// WithOTLP turns OTLP trace export on even when no OTEL_EXPORTER_OTLP_*
// endpoint is set; the exporter then uses its default endpoint
// (localhost:4318 for HTTP, localhost:4317 for gRPC).
func WithOTLP() Option {
	return optionFunc(func(c *config) { c.otlp = otlpOn })
}

// WithoutOTLP turns OTLP trace export off whatever the environment says.
func WithoutOTLP() Option {
	return optionFunc(func(c *config) { c.otlp = otlpOff })
}

// WithOTLPEndpoint turns OTLP trace export on and sends to url, e.g.
// "http://localhost:4318" (HTTP) or "http://localhost:4317" (gRPC). It
// overrides the endpoint environment variables. An empty url is ignored.
func WithOTLPEndpoint(url string) Option {
	return optionFunc(func(c *config) {
		if url != "" {
			c.otlp = otlpOn
			c.otlpEndpoint = url
		}
	})
}

// WithOTLPProtocol selects the OTLP transport of traces and metrics, "grpc"
// or "http/protobuf", overriding OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
// OTEL_EXPORTER_OTLP_METRICS_PROTOCOL and OTEL_EXPORTER_OTLP_PROTOCOL. An
// empty value is ignored; another value makes [Setup] fail with
// [ErrInvalidOption] when OTLP is on.
func WithOTLPProtocol(protocol string) Option {
	return optionFunc(func(c *config) {
		if protocol != "" {
			c.otlpProtocol = protocol
		}
	})
}

// WithSampler sets the trace sampler, overriding OTEL_TRACES_SAMPLER. A nil
// sampler is ignored (the SDK then reads the environment, default
// parentbased_always_on).
func WithSampler(s sdktrace.Sampler) Option {
	return optionFunc(func(c *config) {
		if s != nil {
			c.sampler = s
		}
	})
}

// WithSpanProcessor adds a span processor, for instance a [*SpanSummary]
// or a tracetest.SpanRecorder. Adding one makes the TracerProvider an SDK
// provider even when OTLP is off. A nil processor is ignored.
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return optionFunc(func(c *config) {
		if sp != nil {
			c.processors = append(c.processors, sp)
		}
	})
}

// WithOTLPMetrics turns OTLP metric export on whatever
// OTEL_METRICS_EXPORTER says, next to Prometheus unless that is off. The
// exporter reads its endpoint from OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, else
// OTEL_EXPORTER_OTLP_ENDPOINT, else its default (localhost:4318 for HTTP,
// localhost:4317 for gRPC), and pushes every OTEL_METRIC_EXPORT_INTERVAL
// (default 60 s).
func WithOTLPMetrics() Option {
	return optionFunc(func(c *config) { c.otlpMetrics = otlpOn })
}

// WithoutOTLPMetrics turns OTLP metric export off whatever the environment
// says.
func WithoutOTLPMetrics() Option {
	return optionFunc(func(c *config) { c.otlpMetrics = otlpOff })
}

// WithOTLPMetricsEndpoint turns OTLP metric export on and sends to url,
// e.g. "http://collector:4318" (HTTP, the path /v1/metrics is added) or
// "http://collector:4317" (gRPC). It overrides the endpoint environment
// variables. An empty url is ignored.
func WithOTLPMetricsEndpoint(url string) Option {
	return optionFunc(func(c *config) {
		if url != "" {
			c.otlpMetrics = otlpOn
			c.metricsEndpt = url
		}
	})
}

// WithPrometheus keeps the Prometheus exporter (and
// [Telemetry.MetricsHandler]) on even when OTEL_METRICS_EXPORTER leaves
// "prometheus" out, for a program that always serves /metrics.
func WithPrometheus() Option {
	return optionFunc(func(c *config) { c.prometheus = otlpOn })
}

// WithPrometheusRegisterer registers the Prometheus exporter into reg, an
// application's existing client_golang registry, instead of a private one,
// so the application's own /metrics handler serves naq's metrics next to
// its own. It keeps Prometheus on like [WithPrometheus].
// [Telemetry.MetricsHandler] then serves reg when reg is also a
// prometheus.Gatherer (a *prometheus.Registry, or
// prometheus.DefaultRegisterer), and answers 404 otherwise. Register naq
// into one registry only once: a second exporter in the same registry
// would export every series twice. A nil reg is ignored.
func WithPrometheusRegisterer(reg prometheus.Registerer) Option {
	return optionFunc(func(c *config) {
		if reg != nil {
			c.prometheus = otlpOn
			c.promReg = reg
		}
	})
}

// WithMetricReader adds a metric reader next to the Prometheus one, for
// instance an sdkmetric.ManualReader to compute a live summary. A nil
// reader is ignored. The reader is shut down by [Telemetry.Shutdown].
func WithMetricReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.readers = append(c.readers, r)
		}
	})
}

// WithoutPrometheus does not create the Prometheus exporter, whatever
// OTEL_METRICS_EXPORTER says; [Telemetry.MetricsHandler] then answers 404.
func WithoutPrometheus() Option {
	return optionFunc(func(c *config) { c.prometheus = otlpOff })
}

// WithGlobal installs the tracer provider, meter provider and propagator as
// the otel globals, for applications whose other libraries use them.
// Default: off (libraries and tests should never touch globals).
// [Telemetry.Shutdown] does not restore the previous globals.
func WithGlobal() Option {
	return optionFunc(func(c *config) { c.global = true })
}
