package scope_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/scope"
)

func TestLimiter(t *testing.T) {
	_, err := scope.NewLimiter(0)
	assert.ErrorIs(t, err, scope.ErrInvalidOption)

	l, err := scope.NewLimiter(2)
	require.NoError(t, err)
	assert.Equal(t, 2, l.Max())
	ctx := context.Background()
	r1, err := l.Acquire(ctx)
	require.NoError(t, err)
	r2, ok := l.TryAcquire()
	require.True(t, ok)
	assert.Equal(t, 2, l.InUse())
	_, ok = l.TryAcquire()
	assert.False(t, ok, "full")

	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(ctx) // waits for a slot
		if err == nil {
			r()
		}
		got <- err
	}()
	r1()
	r1() // idempotent: must not free a second slot
	require.NoError(t, <-got)
	assert.Equal(t, 1, l.InUse(), "only r2 is held")
	r2()
	assert.Equal(t, 0, l.InUse())
}

func TestLimiterContextEnds(t *testing.T) {
	l, err := scope.NewLimiter(1)
	require.NoError(t, err)
	release, err := l.Acquire(context.Background())
	require.NoError(t, err)
	defer release()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = l.Acquire(ctx)
	assert.ErrorIs(t, err, scope.ErrLimit)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "scope: connection limit 1 reached")

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	_, err = l.Acquire(cctx)
	assert.ErrorIs(t, err, context.Canceled)
}
