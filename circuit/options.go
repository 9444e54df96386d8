package circuit

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Defaults of every setting. A [Breaker] built with New(name) and no options
// opens after 5 consecutive failures, or when at least half of the last 100
// calls failed once 20 calls were seen; it stays open for 60 s, then lets one
// probe through and closes after one successful probe. Slow-call detection and
// open-timeout backoff are off.
const (
	// DefaultConsecutiveFailures is the number of consecutive failures that
	// opens a closed breaker.
	DefaultConsecutiveFailures = 5
	// DefaultFailureRate is the failure rate over the window that opens a
	// closed breaker.
	DefaultFailureRate = 0.5
	// DefaultMinimumCalls is the number of calls the window must hold before
	// failure and slow-call rates are evaluated.
	DefaultMinimumCalls = 20
	// DefaultWindowSize is the size of the count-based sliding window.
	DefaultWindowSize = 100
	// DefaultOpenTimeout is how long a breaker stays open before it lets
	// probes through.
	DefaultOpenTimeout = 60 * time.Second
	// DefaultHalfOpenProbes is how many probe calls may be in flight at once
	// while half-open.
	DefaultHalfOpenProbes = 1
	// DefaultHalfOpenSuccesses is how many successful probes close a
	// half-open breaker.
	DefaultHalfOpenSuccesses = 1
)

// timeWindowBuckets is the number of buckets a time-based window is split
// into; calls older than the window expire one bucket at a time.
const timeWindowBuckets = 10

// Option configures a [Breaker]. Build one with the With* functions and pass
// it to [New]; New validates the combined settings.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Classifier decides whether an error counts as a failure for the breaker.
// It is only called with non-nil errors; a nil error is always a success.
type Classifier func(err error) bool

type config struct {
	consecutive    int
	failureRate    float64 // 0: failure-rate condition off (WithoutFailureRate)
	failureRateSet bool    // WithFailureRate was used: rate must be in (0, 1]
	minimumCalls   int
	windowSize     int           // count-based window, when timeWindow == 0
	timeWindow     time.Duration // time-based window, when > 0
	slowThreshold  time.Duration // 0: slow-call detection off
	slowRate       float64
	openTimeout    time.Duration
	backoffFactor  float64
	maxOpenTimeout time.Duration
	probes         int
	successes      int
	probeTimeout   time.Duration // 0: the open timeout
	classifier     Classifier
	onStateChange  []func(name string, from, to State)
	meterProvider  metric.MeterProvider
	now            func() time.Time

	destination string // breakers of a Gate: the nats.circuit.destination attribute
	noGauge     bool   // breakers of a Gate: the Gate observes their state
}

// probeTimeoutOrOpen is how long every probe slot may stay taken before the
// probes are presumed lost.
func (c *config) probeTimeoutOrOpen() time.Duration {
	if c.probeTimeout > 0 {
		return c.probeTimeout
	}
	return c.openTimeout
}

func defaultConfig() config {
	return config{
		consecutive:   DefaultConsecutiveFailures,
		failureRate:   DefaultFailureRate,
		minimumCalls:  DefaultMinimumCalls,
		windowSize:    DefaultWindowSize,
		openTimeout:   DefaultOpenTimeout,
		backoffFactor: 1,
		probes:        DefaultHalfOpenProbes,
		successes:     DefaultHalfOpenSuccesses,
		classifier:    DefaultClassifier,
		now:           time.Now,
	}
}

func invalid(field string, value any, want string) error {
	return fmt.Errorf("%w: %s = %v, want %s", ErrInvalidOption, field, value, want)
}

func (c *config) validate() error {
	switch {
	case c.consecutive < 0:
		return invalid("consecutive failures", c.consecutive, ">= 0 (0 disables)")
	case c.failureRateSet && !(c.failureRate > 0 && c.failureRate <= 1):
		return invalid("failure rate", c.failureRate, "in (0, 1] (WithoutFailureRate disables the condition)")
	case c.minimumCalls < 1:
		return invalid("minimum calls", c.minimumCalls, ">= 1")
	case c.timeWindow < 0:
		return invalid("time window", c.timeWindow, "> 0")
	case c.timeWindow == 0 && c.windowSize < 1:
		return invalid("window size", c.windowSize, ">= 1")
	case c.timeWindow == 0 && c.minimumCalls > c.windowSize:
		return invalid("minimum calls", c.minimumCalls, fmt.Sprintf("<= window size (%d)", c.windowSize))
	case c.slowThreshold < 0:
		return invalid("slow call threshold", c.slowThreshold, "> 0")
	case c.slowThreshold > 0 && (c.slowRate <= 0 || c.slowRate > 1 || c.slowRate != c.slowRate):
		return invalid("slow call rate", c.slowRate, "in (0, 1]")
	case c.openTimeout <= 0:
		return invalid("open timeout", c.openTimeout, "> 0")
	case c.backoffFactor < 1 || c.backoffFactor != c.backoffFactor:
		return invalid("open backoff factor", c.backoffFactor, ">= 1")
	case c.backoffFactor > 1 && c.maxOpenTimeout < c.openTimeout:
		return invalid("max open timeout", c.maxOpenTimeout, fmt.Sprintf(">= open timeout (%v)", c.openTimeout))
	case c.probes < 1:
		return invalid("half-open probes", c.probes, ">= 1")
	case c.successes < 1:
		return invalid("half-open successes", c.successes, ">= 1")
	case c.probeTimeout < 0:
		return invalid("probe timeout", c.probeTimeout, "> 0 (0 means the open timeout)")
	case c.consecutive == 0 && c.failureRate == 0 && c.slowThreshold == 0:
		return invalid("trip conditions", "none", "at least one of consecutive failures, failure rate or slow-call rate")
	}
	return nil
}

// WithConsecutiveFailures opens a closed breaker after n failures in a row
// (any success resets the count). Default [DefaultConsecutiveFailures]; 0
// disables this condition; negative n is rejected by [New].
func WithConsecutiveFailures(n int) Option {
	return optionFunc(func(c *config) { c.consecutive = n })
}

// WithFailureRate opens a closed breaker when the share of failed calls in
// the sliding window reaches rate, once the window holds at least minCalls
// calls. rate must be in (0, 1] and minCalls at least 1 and, for a
// count-based window, at most the window size. Defaults [DefaultFailureRate]
// and [DefaultMinimumCalls]. minCalls also applies to the slow-call rate.
func WithFailureRate(rate float64, minCalls int) Option {
	return optionFunc(func(c *config) {
		c.failureRate, c.minimumCalls, c.failureRateSet = rate, minCalls, true
	})
}

// WithMinimumCalls sets only the number of calls the window must hold
// before the failure and slow-call rates are evaluated (what the second
// argument of [WithFailureRate] sets). n must be at least 1 and, for a
// count-based window, at most the window size. Default
// [DefaultMinimumCalls].
func WithMinimumCalls(n int) Option {
	return optionFunc(func(c *config) { c.minimumCalls = n })
}

// WithoutFailureRate turns the failure-rate condition off, leaving
// consecutive failures and slow calls (when configured) as trip conditions.
// A later [WithFailureRate] turns it back on.
func WithoutFailureRate() Option {
	return optionFunc(func(c *config) { c.failureRate, c.failureRateSet = 0, false })
}

// WithCountWindow makes the sliding window hold the outcomes of the last n
// calls (the default, with n = [DefaultWindowSize]). n must be at least 1. It
// replaces a time window set earlier.
func WithCountWindow(n int) Option {
	return optionFunc(func(c *config) { c.windowSize, c.timeWindow = n, 0 })
}

// WithTimeWindow makes the sliding window hold the outcomes of the calls that
// completed during the last d; d must be positive. The window is split in
// ten buckets, so calls expire in steps of d/10. It replaces a count window.
// The default is a count window (see [WithCountWindow]).
func WithTimeWindow(d time.Duration) Option {
	return optionFunc(func(c *config) { c.timeWindow = d })
}

// WithSlowCalls turns on slow-call detection: a call whose reported duration
// is at least threshold is slow, and a closed breaker opens when the share of
// slow calls in the sliding window reaches rate (once the window holds the
// minimum number of calls, see [WithFailureRate]), whether or not they
// failed. While half-open, a slow probe counts as a failed probe. threshold
// must be positive and rate in (0, 1]. Default: off.
func WithSlowCalls(threshold time.Duration, rate float64) Option {
	return optionFunc(func(c *config) { c.slowThreshold, c.slowRate = threshold, rate })
}

// WithOpenTimeout sets how long the breaker stays open before it moves to
// half-open. d must be positive. Default [DefaultOpenTimeout].
func WithOpenTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.openTimeout = d })
}

// WithOpenBackoff grows the open timeout on repeated trips: each time a
// half-open breaker opens again, the timeout is multiplied by factor, up to
// max. Closing the breaker resets it to the open timeout. factor must be at
// least 1 (1 means no growth, the default) and max at least the open
// timeout.
func WithOpenBackoff(factor float64, max time.Duration) Option {
	return optionFunc(func(c *config) { c.backoffFactor, c.maxOpenTimeout = factor, max })
}

// WithHalfOpen sets how many probe calls may be in flight at once while the
// breaker is half-open (further calls are rejected with [ErrOpen]) and how
// many successful probes close it. Both must be at least 1; successes may
// exceed probes (probes then run in turns). A call that finds every slot
// taken for a whole probe timeout ([WithProbeTimeout], default the open
// timeout) opens the breaker again: the probes are presumed lost. Defaults
// [DefaultHalfOpenProbes] and [DefaultHalfOpenSuccesses].
func WithHalfOpen(probes, successes int) Option {
	return optionFunc(func(c *config) { c.probes, c.successes = probes, successes })
}

// WithProbeTimeout sets how long every half-open probe slot may stay taken
// before the probes are presumed lost (a done never called, or a call that
// hangs) and the breaker opens again. Set it above the longest timeout of
// the calls the breaker guards, so that a slow but live probe is not
// abandoned. d must not be negative; 0 (the default) means the open timeout
// ([WithOpenTimeout]).
func WithProbeTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.probeTimeout = d })
}

// WithClassifier sets the function that decides which errors count as
// failures. Default (and when f is nil) [DefaultClassifier].
func WithClassifier(f Classifier) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			f = DefaultClassifier
		}
		c.classifier = f
	})
}

// WithOnStateChange adds a function called after every state change with the
// breaker's name and the old and new state. Callbacks run after the breaker's
// lock is released, in the order the changes happened, on the goroutine that
// caused the change (or one that is already delivering changes); they may
// call any method of the breaker. A nil f is ignored. Several callbacks run
// in the order they were added.
func WithOnStateChange(f func(name string, from, to State)) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.onStateChange = append(c.onStateChange, f)
		}
	})
}

// SharedOption is an option of both a [Breaker] ([New]) and a [Gate]
// ([NewGate]).
type SharedOption interface {
	Option
	GateOption
}

type sharedOption struct {
	breaker func(*config)
	gate    func(*gateConfig)
}

func (o sharedOption) apply(c *config)         { o.breaker(c) }
func (o sharedOption) applyGate(c *gateConfig) { o.gate(c) }

// WithMeterProvider sets the MeterProvider the breaker's (or the gate's)
// instruments are created on. Default (and when mp is nil): the global
// MeterProvider at the time [New] or [NewGate] is called.
func WithMeterProvider(mp metric.MeterProvider) SharedOption {
	return sharedOption{
		breaker: func(c *config) {
			if mp != nil {
				c.meterProvider = mp
			}
		},
		gate: func(c *gateConfig) {
			if mp != nil {
				c.mp = mp
			}
		},
	}
}

// withClock replaces time.Now; tests use it to move time without sleeping.
func withClock(now func() time.Time) SharedOption {
	return sharedOption{
		breaker: func(c *config) { c.now = now },
		gate:    func(c *gateConfig) { c.now = now },
	}
}
