package circuit

import (
	"context"
	"testing"
	"time"
)

//go:noinline
func bareCall(context.Context) error { return nil }

// BenchmarkBareCall is the baseline: the guarded call without a breaker.
func BenchmarkBareCall(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := bareCall(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllowDone is the pipeline's use: Allow, the call, done, on a
// closed breaker with the default settings.
func BenchmarkAllowDone(b *testing.B) {
	br, err := New("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow(ctx)
		if err != nil {
			b.Fatal(err)
		}
		err = bareCall(ctx)
		done(err, 0)
	}
}

// BenchmarkDo wraps the same call with Do (two clock reads more).
func BenchmarkDo(b *testing.B) {
	br, err := New("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ctx := context.Background()
	fn := func(ctx context.Context) (struct{}, error) { return struct{}{}, bareCall(ctx) }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Do(ctx, br, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllowDoneParallel is AllowDone from all Ps at once.
func BenchmarkAllowDoneParallel(b *testing.B) {
	br, err := New("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			done, err := br.Allow(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			done(bareCall(ctx), 0)
		}
	})
}

// BenchmarkAllowRejected is a call rejected by an open breaker.
func BenchmarkAllowRejected(b *testing.B) {
	br, err := New("bench", WithConsecutiveFailures(1))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ctx := context.Background()
	done, _ := br.Allow(ctx)
	done(errBoom, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Allow(ctx); err == nil {
			b.Fatal("allowed")
		}
	}
}

// BenchmarkDoSlowCallDetection is Do with slow-call detection on: Do then
// reads the clock twice to measure the call.
func BenchmarkDoSlowCallDetection(b *testing.B) {
	br, err := New("bench", WithSlowCalls(time.Second, 0.5))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ctx := context.Background()
	fn := func(ctx context.Context) (struct{}, error) { return struct{}{}, bareCall(ctx) }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Do(ctx, br, fn); err != nil {
			b.Fatal(err)
		}
	}
}
