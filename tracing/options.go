package tracing

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/version"
)

// ScopeName is the instrumentation scope name of every naq tracer and meter
// (the module path, the same in every naq package), including the tracers
// of [StartProcess] and the hop collector.
const ScopeName = version.ScopeName

// Version is the version of the naq tracing package.
const Version = version.Version

// Option configures [Inject], [Extract], [StartProcess], [LinkFromHeader]
// and [NewHopCollector] (every Option is a [HopOption]). Options never fail;
// a nil value passed to a With* function is ignored.
type Option interface {
	HopOption
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	propagators propagation.TextMapPropagator
	tp          trace.TracerProvider
	namer       SubjectNamer
}

// newConfig applies opts over the defaults: the global propagator (read now,
// at call time) and [DefaultSubjectNamer]. The TracerProvider default is
// resolved by the caller that needs one.
func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.propagators == nil {
		c.propagators = otel.GetTextMapPropagator()
	}
	if c.namer == nil {
		c.namer = DefaultSubjectNamer
	}
	return c
}

// WithPropagators sets the propagator used to inject and extract the trace
// context (a [HopCollector] extracts the traced message's). Default: the
// global propagator (otel.GetTextMapPropagator) at call time, or when the
// collector is created. A nil p is ignored.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.propagators = p
		}
	})
}

// WithTracerProvider sets the TracerProvider [StartProcess] and a
// [HopCollector] use. Default: the global TracerProvider at call time, or
// when the collector is created. A nil tp is ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// WithSubjectNamer sets the hook that maps a subject to its destination
// template in [StartProcess] and in a [HopCollector]'s span names (behind
// its template cap). Default: [DefaultSubjectNamer]. A nil n is ignored.
func WithSubjectNamer(n SubjectNamer) Option {
	return optionFunc(func(c *config) {
		if n != nil {
			c.namer = n
		}
	})
}
