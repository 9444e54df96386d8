package scope

import (
	"context"
	"crypto/tls"
	"errors"
	"math"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/naq-io/naq/circuit"
)

// RetryPolicy holds the seed's retry knobs (max_retries, retry_delay,
// backoff_factor) plus jitter and a delay cap. The zero value retries
// nothing; start from [DefaultRetryPolicy].
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt; 0 means
	// one attempt only, -1 retries until ctx ends. Default 3.
	MaxRetries int
	// InitialDelay is the wait before the first retry (> 0 when retrying).
	// Default 1s.
	InitialDelay time.Duration
	// BackoffFactor multiplies the delay after each retry (>= 1). Default 2.
	BackoffFactor float64
	// Jitter randomises each delay by ±Jitter×delay (0 ≤ Jitter ≤ 1).
	// Default 0.2.
	Jitter float64
	// MaxDelay caps a single delay (0 = no cap). Default 30s.
	MaxDelay time.Duration
	// Permanent reports errors that must not be retried. nil means
	// [IsPermanent].
	Permanent func(error) bool
}

// DefaultRetryPolicy returns the seed's defaults (3 retries, 1s initial
// delay, factor 2) with 20% jitter and a 30s cap.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 3, InitialDelay: time.Second, BackoffFactor: 2, Jitter: 0.2, MaxDelay: 30 * time.Second}
}

// Validate reports a bad knob as an error matching [ErrInvalidOption].
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxRetries < -1:
		return invalidOption("RetryPolicy.MaxRetries", p.MaxRetries, "an integer >= -1 (-1 = until ctx ends)")
	case p.MaxRetries != 0 && p.InitialDelay <= 0:
		return invalidOption("RetryPolicy.InitialDelay", p.InitialDelay, "a duration > 0")
	case p.MaxRetries != 0 && (p.BackoffFactor < 1 || math.IsNaN(p.BackoffFactor) || math.IsInf(p.BackoffFactor, 0)):
		return invalidOption("RetryPolicy.BackoffFactor", p.BackoffFactor, "a finite number >= 1")
	case p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter):
		return invalidOption("RetryPolicy.Jitter", p.Jitter, "a number between 0 and 1")
	case p.MaxDelay < 0:
		return invalidOption("RetryPolicy.MaxDelay", p.MaxDelay, "a duration >= 0 (0 = no cap)")
	}
	return nil
}

// IsPermanent reports errors that retrying cannot fix: invalid config or
// options, a closed pool, authorization failures (nats.ErrAuthorization,
// expired or revoked credentials, "authorization violation"), an open
// circuit (circuit.ErrOpen), a server certificate that fails verification
// (*tls.CertificateVerificationError) and errors marked with
// backoff.Permanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var (
		perm   *backoff.PermanentError
		verify *tls.CertificateVerificationError
	)
	return errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrInvalidOption) ||
		errors.Is(err, ErrPoolClosed) || errors.Is(err, circuit.ErrOpen) ||
		errors.As(err, &perm) || errors.As(err, &verify) || isAuthError(err)
}

// Retry runs fn until it succeeds, returns a permanent error (returned
// unchanged), the retries run out, or ctx ends. The delays grow by
// BackoffFactor from InitialDelay, randomised by Jitter and capped by
// MaxDelay (github.com/cenkalti/backoff/v5 does the timing). When it gives
// up it returns a [*RetryError] carrying the attempt count, the last error
// and, if ctx ended, ctx's error. An invalid policy returns an error
// matching [ErrInvalidOption] without calling fn.
func Retry(ctx context.Context, p RetryPolicy, fn func(context.Context) error) error {
	_, err := RetryValue(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// RetryValue is [Retry] for a function that returns a value.
func RetryValue[T any](ctx context.Context, p RetryPolicy, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := p.Validate(); err != nil {
		return zero, err
	}
	permanent := p.Permanent
	if permanent == nil {
		permanent = IsPermanent
	}
	var (
		attempts int
		last     error
		perm     bool
	)
	op := func() (T, error) {
		attempts++
		v, err := fn(ctx)
		if err != nil {
			last = err
			if permanent(err) {
				perm = true
				return v, backoff.Permanent(err)
			}
		}
		return v, err
	}
	if p.MaxRetries == 0 {
		v, err := op()
		if err != nil {
			return v, last
		}
		return v, nil
	}
	maxDelay := p.MaxDelay
	if maxDelay == 0 {
		maxDelay = time.Duration(math.MaxInt64)
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.InitialDelay,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.BackoffFactor,
		MaxInterval:         maxDelay,
	}
	ropts := []backoff.RetryOption{backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0)}
	if p.MaxRetries > 0 {
		ropts = append(ropts, backoff.WithMaxTries(uint(p.MaxRetries)+1))
	}
	v, err := backoff.Retry(ctx, op, ropts...)
	switch {
	case err == nil:
		return v, nil
	case perm:
		return v, last
	case ctx.Err() != nil && last != nil:
		return v, &RetryError{Attempts: attempts, Last: last, Ctx: context.Cause(ctx)}
	case ctx.Err() != nil:
		return v, context.Cause(ctx)
	default:
		return v, &RetryError{Attempts: attempts, Last: last}
	}
}
