package scope_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/scope"
)

var errFlaky = errors.New("flaky")

func fastPolicy(retries int) scope.RetryPolicy {
	return scope.RetryPolicy{MaxRetries: retries, InitialDelay: time.Millisecond, BackoffFactor: 2, Jitter: 0.5, MaxDelay: 5 * time.Millisecond}
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	calls := 0
	v, err := scope.RetryValue(context.Background(), fastPolicy(5), func(context.Context) (int, error) {
		calls++
		if calls < 3 {
			return 0, errFlaky
		}
		return 42, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	assert.Equal(t, 3, calls)
}

func TestRetryGivesUpAfterMaxRetries(t *testing.T) {
	calls := 0
	err := scope.Retry(context.Background(), fastPolicy(2), func(context.Context) error {
		calls++
		return fmt.Errorf("attempt %d: %w", calls, errFlaky)
	})
	assert.Equal(t, 3, calls, "one attempt plus MaxRetries retries")
	assert.ErrorIs(t, err, scope.ErrRetryExhausted)
	assert.ErrorIs(t, err, errFlaky)
	var re *scope.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 3, re.Attempts)
	assert.EqualError(t, err, "scope: gave up after 3 attempt(s): attempt 3: flaky")

	calls = 0
	err = scope.Retry(context.Background(), fastPolicy(0), func(context.Context) error { calls++; return errFlaky })
	assert.Equal(t, 1, calls, "MaxRetries 0 is a single attempt")
	assert.Equal(t, errFlaky, err)
}

func TestRetryStopsOnPermanentErrors(t *testing.T) {
	for name, perm := range map[string]error{
		"invalid config":     &scope.ConfigError{Field: "servers"},
		"authorization":      fmt.Errorf("dial: %w", nats.ErrAuthorization),
		"auth violation":     errors.New("nats: authorization violation"),
		"backoff.Permanent":  backoff.Permanent(errFlaky),
		"circuit open":       fmt.Errorf("dial: %w", circuit.ErrOpen),
		"pool closed":        scope.ErrPoolClosed,
		"invalid option":     scope.ErrInvalidOption,
		"expired credential": nats.ErrAuthExpired,
	} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			err := scope.Retry(context.Background(), fastPolicy(5), func(context.Context) error { calls++; return perm })
			assert.Equal(t, 1, calls)
			assert.True(t, scope.IsPermanent(perm))
			assert.NotErrorIs(t, err, scope.ErrRetryExhausted)
			require.Error(t, err)
		})
	}
	assert.False(t, scope.IsPermanent(errFlaky))
	assert.False(t, scope.IsPermanent(nats.ErrNoServers))
	assert.False(t, scope.IsPermanent(nil))
}

func TestRetryStopsWhenTheBreakerOpens(t *testing.T) {
	b, err := circuit.New("retry-test", circuit.WithConsecutiveFailures(2), circuit.WithOpenTimeout(time.Hour))
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	calls, dials := 0, 0
	err = scope.Retry(context.Background(), fastPolicy(10), func(ctx context.Context) error {
		calls++
		_, err := circuit.Do(ctx, b, func(context.Context) (struct{}, error) {
			dials++
			return struct{}{}, nats.ErrNoServers
		})
		return err
	})
	assert.ErrorIs(t, err, circuit.ErrOpen)
	assert.Equal(t, 2, dials, "the breaker opened after two failures")
	assert.Equal(t, 3, calls, "the rejected attempt stopped the retries")
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	p := scope.RetryPolicy{MaxRetries: -1, InitialDelay: time.Hour, BackoffFactor: 1}
	calls := 0
	err := scope.Retry(ctx, p, func(context.Context) error { calls++; return errFlaky })
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, errFlaky, "the last cause is kept")
	assert.NotErrorIs(t, err, scope.ErrRetryExhausted)
	var re *scope.RetryError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, err.Error(), "retry stopped after 1 attempt(s)")
}

func TestRetryCustomPermanentClassifier(t *testing.T) {
	p := fastPolicy(5)
	p.Permanent = func(err error) bool { return errors.Is(err, errFlaky) }
	calls := 0
	err := scope.Retry(context.Background(), p, func(context.Context) error { calls++; return errFlaky })
	assert.Equal(t, 1, calls)
	assert.Equal(t, errFlaky, err)
}

func TestRetryPolicyValidation(t *testing.T) {
	d := scope.DefaultRetryPolicy()
	require.NoError(t, d.Validate())
	assert.Equal(t, 3, d.MaxRetries)
	assert.Equal(t, time.Second, d.InitialDelay)
	assert.Equal(t, 2.0, d.BackoffFactor)
	for name, p := range map[string]scope.RetryPolicy{
		"MaxRetries":    {MaxRetries: -2},
		"InitialDelay":  {MaxRetries: 1},
		"BackoffFactor": {MaxRetries: 1, InitialDelay: time.Second, BackoffFactor: 0.5},
		"Jitter":        {MaxRetries: 1, InitialDelay: time.Second, BackoffFactor: 1, Jitter: 2},
		"MaxDelay":      {MaxRetries: 1, InitialDelay: time.Second, BackoffFactor: 1, MaxDelay: -1},
	} {
		err := scope.Retry(context.Background(), p, func(context.Context) error { t.Fatal("must not run"); return nil })
		assert.ErrorIs(t, err, scope.ErrInvalidOption, name)
		assert.Contains(t, err.Error(), name)
	}
}

func TestPoolRetriesDialUntilServerIsBack(t *testing.T) {
	srv := startServer(t)
	srv.Stop()
	var dials dialCounter
	restarted := false
	p := newPool(t, scope.WithDialObserver(func(ev scope.DialEvent) {
		dials.observe(ev)
		if dials.n.Load() == 3 && !restarted {
			restarted = true
			srv.Restart() // runs in the dialing goroutine: deterministic
		}
	}))
	s, err := p.Acquire(context.Background(), cfgFor(srv), scope.WithRetry(fastPolicy(10)))
	require.NoError(t, err)
	assert.EqualValues(t, 4, dials.n.Load(), "three refused attempts, then success")
	for _, e := range dials.errs[:3] {
		var ce *scope.ConnectError
		assert.ErrorAs(t, e, &ce)
	}
	assert.NoError(t, dials.errs[3])
	require.NoError(t, s.Close(context.Background()))
}

func TestPoolDialWithoutRetryFailsOnce(t *testing.T) {
	srv := startServer(t)
	srv.Stop()
	var dials dialCounter
	p := newPool(t, dials.option())
	_, err := p.Acquire(context.Background(), cfgFor(srv))
	require.Error(t, err)
	assert.ErrorIs(t, err, nats.ErrNoServers)
	assert.EqualValues(t, 1, dials.n.Load())
	assert.Equal(t, 0, p.Len())
	srv.Restart()
}
