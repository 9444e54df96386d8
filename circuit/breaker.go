package circuit

import (
	"context"
	"time"
)

// Breaker is a circuit breaker. It is safe for concurrent use.
type Breaker struct {
	name string
	cfg  config
}

// New returns a closed breaker.
func New(name string, opts ...Option) (*Breaker, error) {
	if name == "" {
		return nil, invalid("name", `""`, "a non-empty name")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Breaker{name: name, cfg: cfg}, nil
}

func noopDone(error, time.Duration) {}

// Allow asks whether a call may go ahead.
func (b *Breaker) Allow(ctx context.Context) (done func(err error, d time.Duration), err error) {
	return noopDone, nil
}

// Do runs fn through the breaker.
func Do[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	done, err := b.Allow(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	start := b.cfg.now()
	v, err := fn(ctx)
	done(err, b.cfg.now().Sub(start))
	return v, err
}

// State returns the current state.
func (b *Breaker) State() State { return StateClosed }

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Close releases the breaker's telemetry registration.
func (b *Breaker) Close() error { return nil }
