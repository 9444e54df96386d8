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

// Option configures a [Recorder]. Options never fail: a nil or out-of-range
// value is ignored and the default kept.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	mp          metric.MeterProvider
	rttInterval time.Duration
	rttTimeout  time.Duration
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
	return optionFunc(func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	})
}

// WithRTTInterval sets how often an [Observer] samples the round-trip time
// in its background goroutine. The default is the connection's ping interval
// (nats.go's default: two minutes); a value <= 0 is ignored.
func WithRTTInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.rttInterval = d
		}
	})
}

// WithRTTTimeout bounds one background RTT sample (default 5s); a sample that
// times out is reported as missing. A value <= 0 is ignored.
func WithRTTTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.rttTimeout = d
		}
	})
}
