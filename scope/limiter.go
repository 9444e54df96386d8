package scope

import (
	"context"
	"sync"
	"time"
)

// Limiter caps the number of concurrent scopes (the seed's
// ConnectionLimiter). Acquire waits for a free slot until ctx ends. Use it
// directly or through [WithLimiter]. A Limiter is safe for concurrent use.
type Limiter struct {
	slots chan struct{}
}

// NewLimiter returns a limiter with max slots. max < 1 returns an error
// matching [ErrInvalidOption].
func NewLimiter(max int) (*Limiter, error) {
	if max < 1 {
		return nil, invalidOption("NewLimiter max", max, "an integer >= 1")
	}
	return &Limiter{slots: make(chan struct{}, max)}, nil
}

// Acquire takes a slot, waiting until one frees up or ctx ends; then it
// returns a [*LimitError] (errors.Is [ErrLimit] and ctx's error). The
// returned release frees the slot; calling it more than once is a no-op.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return l.releaser(), nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, &LimitError{Max: cap(l.slots), Err: err}
	}
	start := time.Now()
	select {
	case l.slots <- struct{}{}:
		return l.releaser(), nil
	case <-ctx.Done():
		return nil, &LimitError{Max: cap(l.slots), Waited: time.Since(start), Err: ctx.Err()}
	}
}

// TryAcquire takes a slot if one is free, without waiting.
func (l *Limiter) TryAcquire() (release func(), ok bool) {
	select {
	case l.slots <- struct{}{}:
		return l.releaser(), true
	default:
		return nil, false
	}
}

func (l *Limiter) releaser() func() {
	var once sync.Once
	return func() { once.Do(func() { <-l.slots }) }
}

// InUse returns the number of slots taken.
func (l *Limiter) InUse() int { return len(l.slots) }

// Max returns the number of slots.
func (l *Limiter) Max() int { return cap(l.slots) }
