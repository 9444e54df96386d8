package metrics

import (
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/naq-io/naq/internal/version"
)

// ScopeName is the instrumentation scope name of every naq tracer and meter
// (the module path, the same in every naq package): the wrappers' spans and
// the data points of every naq instrument share it.
const ScopeName = version.ScopeName

// Version is the version of the naq metrics package.
const Version = version.Version

// The options of this package form one family: every option is built by a
// With* function and sets one internal config, and each function that takes
// options accepts only the kind it honours, so an option it would ignore does
// not compile there (NewRecorder(WithConnects(3)) and
// Measure(ctx, dial, WithMeterProvider(mp)) are compile errors). The kinds
// are interfaces with unexported marker methods, as in the scope package. No
// option belongs to both kinds: each configures a different thing (a
// Recorder, one measurement). Options never fail: a nil or out-of-range value
// is ignored or clamped, as each option documents.

// Option configures a [Recorder]: [NewRecorder] takes it. The Options are
// [WithMeterProvider], [WithRTTInterval] and [WithRTTTimeout]. [Measure]
// takes the other kind of option of this package, [MeasureOption].
type Option interface {
	apply(*config)
	recorderOption()
}

// MeasureOption configures one performance measurement: [Measure] takes it.
// The MeasureOptions are [WithConnects], [WithRoundTrips], [WithPublishes],
// [WithRequests], [WithOperation], [WithPayloadSize], [WithSubject],
// [WithOpTimeout], [WithProgress] and [WithRecorder]. A measurement that
// should also show in a Recorder's metrics dials through one
// ([WithRecorder]), configured with [Option]s when it was made.
type MeasureOption interface {
	apply(*config)
	measureOption()
}

// applyFunc applies an option; the kind types below say which kind it is.
type applyFunc func(*config)

func (f applyFunc) apply(c *config) { f(c) }

type (
	recorderKind struct{}
	measureKind  struct{}
)

func (recorderKind) recorderOption() {}
func (measureKind) measureOption()   {}

// The concrete option types, one per kind.
type (
	recorderOpt struct {
		applyFunc
		recorderKind
	}
	measureOpt struct {
		applyFunc
		measureKind
	}
)

var (
	_ Option        = recorderOpt{}
	_ MeasureOption = measureOpt{}
)

// forRecorder makes an [Option] of f.
func forRecorder(f func(*config)) Option { return recorderOpt{applyFunc: f} }

// forMeasure makes a [MeasureOption] of f.
func forMeasure(f func(*config)) MeasureOption { return measureOpt{applyFunc: f} }

// config holds every setting an option of this package sets: the
// Recorder's (an [Option] sets them) and, in measureConfig, a measurement's
// (a [MeasureOption] sets them).
type config struct {
	mp          metric.MeterProvider
	rttInterval time.Duration
	rttTimeout  time.Duration

	measureConfig
}

// defaultRTTTimeout bounds one background RTT sample.
const defaultRTTTimeout = 5 * time.Second

// defaultPingInterval is nats.go's default ping interval, used for RTT
// sampling when a connection reports none.
const defaultPingInterval = 2 * time.Minute

func newConfig(opts []Option) config {
	c := config{rttTimeout: defaultRTTTimeout}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithMeterProvider sets the MeterProvider the [Recorder] creates its
// instruments on. The default (and the value used for nil) is the global
// MeterProvider at the time [NewRecorder] runs.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return forRecorder(func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	})
}

// WithRTTInterval sets how often the [Observer]s of the [Recorder] sample
// the round-trip time in their background goroutine. The default is the
// connection's ping interval (nats.go's default: two minutes); a value <= 0
// is ignored.
func WithRTTInterval(d time.Duration) Option {
	return forRecorder(func(c *config) {
		if d > 0 {
			c.rttInterval = d
		}
	})
}

// WithRTTTimeout bounds one background RTT sample of the [Observer]s of the
// [Recorder] (default 5s); a sample that times out is reported as missing. A
// value <= 0 is ignored.
func WithRTTTimeout(d time.Duration) Option {
	return forRecorder(func(c *config) {
		if d > 0 {
			c.rttTimeout = d
		}
	})
}
