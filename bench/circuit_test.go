package bench

import (
	"context"
	"testing"

	"github.com/sony/gobreaker/v2"

	"github.com/naq-io/naq/circuit"
)

// The guarded call: nothing, so the numbers are the breakers' own cost.
//
//go:noinline
func bareCall(context.Context) (struct{}, error) { return struct{}{}, nil }

func newNaq(b *testing.B) *circuit.Breaker {
	b.Helper()
	br, err := circuit.New("bench") // defaults: 5 consecutive failures, 50% of last 100 calls
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	return br
}

// gobreakerSettings open on the fifth consecutive failure like naq's
// default (gobreaker's own default opens on the sixth); counts are never
// cleared while closed (Interval 0).
var gobreakerSettings = gobreaker.Settings{
	Name:        "bench",
	ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
}

func newGobreaker() *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings)
}

func newGobreakerTwoStep() *gobreaker.TwoStepCircuitBreaker[struct{}] {
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreakerSettings)
}

// BenchmarkBareCall is the baseline: the call without any breaker.
func BenchmarkBareCall(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bareCall(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNaqAllowDone: circuit.Breaker.Allow, the call, done.
func BenchmarkNaqAllowDone(b *testing.B) {
	br := newNaq(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow(ctx)
		if err != nil {
			b.Fatal(err)
		}
		_, err = bareCall(ctx)
		done(err, 0)
	}
}

// BenchmarkNaqDo: circuit.Do around the call.
func BenchmarkNaqDo(b *testing.B) {
	br := newNaq(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := circuit.Do(ctx, br, bareCall); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGobreakerExecute: gobreaker/v2 CircuitBreaker.Execute around the
// call.
func BenchmarkGobreakerExecute(b *testing.B) {
	cb := newGobreaker()
	ctx := context.Background()
	fn := func() (struct{}, error) { return bareCall(ctx) }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cb.Execute(fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGobreakerTwoStep: gobreaker/v2 TwoStepCircuitBreaker.Allow, the
// call, done: the same call style as naq's Allow.
func BenchmarkGobreakerTwoStep(b *testing.B) {
	cb := newGobreakerTwoStep()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		done, err := cb.Allow()
		if err != nil {
			b.Fatal(err)
		}
		_, err = bareCall(ctx)
		done(err)
	}
}

// BenchmarkNaqAllowDoneParallel and BenchmarkGobreakerExecuteParallel run
// the same from every P at once.
func BenchmarkNaqAllowDoneParallel(b *testing.B) {
	br := newNaq(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			done, err := br.Allow(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = bareCall(ctx)
			done(err, 0)
		}
	})
}

func BenchmarkGobreakerExecuteParallel(b *testing.B) {
	cb := newGobreaker()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		fn := func() (struct{}, error) { return bareCall(ctx) }
		for pb.Next() {
			if _, err := cb.Execute(fn); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
