package bench

import (
	"context"
	"errors"
	"testing"

	"github.com/sony/gobreaker/v2"

	"github.com/naq-io/naq/circuit"
)

// TestSameTripPoint checks that the benchmarked breakers are configured
// alike: both open on the fifth consecutive failure and then reject.
func TestSameTripPoint(t *testing.T) {
	naq, err := circuit.New("parity")
	if err != nil {
		t.Fatal(err)
	}
	defer naq.Close()
	gb := newGobreaker()
	boom := errors.New("boom")
	for i := 1; i <= 5; i++ {
		_, _ = circuit.Do(context.Background(), naq, func(context.Context) (struct{}, error) { return struct{}{}, boom })
		_, _ = gb.Execute(func() (struct{}, error) { return struct{}{}, boom })
		wantOpen := i == 5
		if got := naq.State() == circuit.StateOpen; got != wantOpen {
			t.Fatalf("naq after %d failures: open = %v, want %v", i, got, wantOpen)
		}
		if got := gb.State() == gobreaker.StateOpen; got != wantOpen {
			t.Fatalf("gobreaker after %d failures: open = %v, want %v", i, got, wantOpen)
		}
	}
	if _, err := circuit.Do(context.Background(), naq, bareCall); !errors.Is(err, circuit.ErrOpen) {
		t.Errorf("naq: %v, want ErrOpen", err)
	}
	if _, err := gb.Execute(func() (struct{}, error) { return bareCall(context.Background()) }); !errors.Is(err, gobreaker.ErrOpenState) {
		t.Errorf("gobreaker: %v, want ErrOpenState", err)
	}
}
