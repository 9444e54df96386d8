package telemetry

import (
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

// otlpMode says whether OTLP export was forced on or off by an option.
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
	noPrometheus   bool
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

// WithOTLPProtocol selects the OTLP transport, "grpc" or "http/protobuf",
// overriding OTEL_EXPORTER_OTLP_TRACES_PROTOCOL and
// OTEL_EXPORTER_OTLP_PROTOCOL. An empty value is ignored; another value makes
// [Setup] fail with [ErrInvalidOption] when OTLP is on.
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

// WithoutPrometheus does not create the Prometheus exporter;
// [Telemetry.MetricsHandler] then answers 404.
func WithoutPrometheus() Option {
	return optionFunc(func(c *config) { c.noPrometheus = true })
}

// WithGlobal installs the tracer provider, meter provider and propagator as
// the otel globals, for applications whose other libraries use them.
// Default: off (libraries and tests should never touch globals).
// [Telemetry.Shutdown] does not restore the previous globals.
func WithGlobal() Option {
	return optionFunc(func(c *config) { c.global = true })
}
