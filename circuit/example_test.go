package circuit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/circuit"
)

func ExampleNew() {
	b, err := circuit.New("orders",
		circuit.WithConsecutiveFailures(3),
		circuit.WithFailureRate(0.5, 10),
		circuit.WithSlowCalls(250*time.Millisecond, 0.8),
		circuit.WithOpenTimeout(10*time.Second),
		circuit.WithOpenBackoff(2, 2*time.Minute),
		circuit.WithHalfOpen(2, 3),
		circuit.WithOnStateChange(func(name string, from, to circuit.State) {
			fmt.Printf("%s: %s -> %s\n", name, from, to)
		}),
	)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	fmt.Println(b.Name(), b.State())

	_, err = circuit.New("bad", circuit.WithFailureRate(1.5, 10))
	fmt.Println(err)
	fmt.Println(errors.Is(err, circuit.ErrInvalidOption))
	// Output:
	// orders closed
	// circuit: invalid option: failure rate = 1.5, want in (0, 1] (WithoutFailureRate disables the condition)
	// true
}

func ExampleDo() {
	b, err := circuit.New("kv", circuit.WithConsecutiveFailures(2))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx := context.Background()

	// Expected misses are not failures: the breaker stays closed.
	for i := 0; i < 3; i++ {
		_, err = circuit.Do(ctx, b, func(ctx context.Context) (string, error) {
			return "", jetstream.ErrKeyNotFound
		})
	}
	fmt.Println(errors.Is(err, jetstream.ErrKeyNotFound), b.State())

	// Real failures open it; then calls fail fast without running.
	for i := 0; i < 2; i++ {
		_, err = circuit.Do(ctx, b, func(ctx context.Context) (string, error) {
			return "", nats.ErrNoResponders
		})
	}
	_, err = circuit.Do(ctx, b, func(ctx context.Context) (string, error) {
		panic("not called")
	})
	fmt.Println(b.State(), errors.Is(err, circuit.ErrOpen))
	// Output:
	// true closed
	// open true
}

func ExampleBreaker_Allow() {
	b, err := circuit.New("conn", circuit.WithConsecutiveFailures(1), circuit.WithOpenTimeout(time.Minute))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx := context.Background()

	call := func(fail bool) error {
		done, err := b.Allow(ctx)
		if err != nil {
			return err // rejected: wraps circuit.ErrOpen
		}
		start := time.Now()
		if fail {
			err = nats.ErrTimeout
		}
		done(err, time.Since(start)) // exactly once per allowed call
		return err
	}

	fmt.Println(call(true))
	err = call(false)
	var oe *circuit.OpenError
	if errors.As(err, &oe) {
		fmt.Println(oe.Name, oe.State, oe.Remaining > 0)
	}
	// Output:
	// nats: timeout
	// conn open true
}

func ExampleDefaultClassifier() {
	fmt.Println(circuit.DefaultClassifier(nats.ErrNoResponders))
	fmt.Println(circuit.DefaultClassifier(jetstream.ErrKeyNotFound))
	fmt.Println(circuit.DefaultClassifier(context.Canceled))
	// Output:
	// true
	// false
	// false
}
