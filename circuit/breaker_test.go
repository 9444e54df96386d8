package circuit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/internal/semconv"
)

func TestStateString(t *testing.T) {
	assert.Equal(t, "closed", StateClosed.String())
	assert.Equal(t, "half_open", StateHalfOpen.String())
	assert.Equal(t, "open", StateOpen.String())
	assert.Equal(t, "State(7)", State(7).String())
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name  string
		bname string
		opts  []Option
		field string
	}{
		{"empty name", "", nil, "name"},
		{"negative consecutive", "b", []Option{WithConsecutiveFailures(-1)}, "consecutive failures = -1"},
		{"rate above 1", "b", []Option{WithFailureRate(1.5, 10)}, "failure rate = 1.5"},
		{"negative rate", "b", []Option{WithFailureRate(-0.1, 10)}, "failure rate = -0.1"},
		{"NaN rate", "b", []Option{WithFailureRate(math.NaN(), 10)}, "failure rate = NaN"},
		{"zero minimum calls", "b", []Option{WithFailureRate(0.5, 0)}, "minimum calls = 0"},
		{"negative minimum calls", "b", []Option{WithMinimumCalls(-1)}, "minimum calls = -1"},
		{"minimum above window", "b", []Option{WithCountWindow(10), WithFailureRate(0.5, 11)}, "minimum calls = 11"},
		{"zero window", "b", []Option{WithCountWindow(0)}, "window size = 0"},
		{"negative time window", "b", []Option{WithTimeWindow(-time.Second)}, "time window = -1s"},
		{"negative slow threshold", "b", []Option{WithSlowCalls(-time.Millisecond, 0.5)}, "slow call threshold = -1ms"},
		{"zero slow rate", "b", []Option{WithSlowCalls(time.Millisecond, 0)}, "slow call rate = 0"},
		{"slow rate above 1", "b", []Option{WithSlowCalls(time.Millisecond, 2)}, "slow call rate = 2"},
		{"zero open timeout", "b", []Option{WithOpenTimeout(0)}, "open timeout = 0s"},
		{"negative open timeout", "b", []Option{WithOpenTimeout(-time.Second)}, "open timeout = -1s"},
		{"backoff below 1", "b", []Option{WithOpenBackoff(0.5, time.Hour)}, "open backoff factor = 0.5"},
		{"backoff max below timeout", "b", []Option{WithOpenTimeout(time.Minute), WithOpenBackoff(2, time.Second)}, "max open timeout = 1s"},
		{"zero probes", "b", []Option{WithHalfOpen(0, 1)}, "half-open probes = 0"},
		{"zero successes", "b", []Option{WithHalfOpen(1, 0)}, "half-open successes = 0"},
		{"zero rate", "b", []Option{WithFailureRate(0, 10)}, "failure rate = 0"},
		{"nothing trips", "b", []Option{WithConsecutiveFailures(0), WithoutFailureRate()}, "trip conditions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.bname, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, b)
			assert.ErrorIs(t, err, ErrInvalidOption)
			assert.Contains(t, err.Error(), tt.field)
			assert.Contains(t, err.Error(), "want ")
			assert.True(t, strings.HasPrefix(err.Error(), "circuit: invalid option: "), err.Error())
		})
	}
}

func TestNewDefaults(t *testing.T) {
	b, err := New("defaults", nil, WithClassifier(nil), WithOnStateChange(nil), WithMeterProvider(nil))
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, "defaults", b.Name())
	assert.Equal(t, StateClosed, b.State())
	assert.Equal(t, DefaultConsecutiveFailures, b.cfg.consecutive)
	assert.Equal(t, DefaultFailureRate, b.cfg.failureRate)
	assert.Equal(t, DefaultMinimumCalls, b.cfg.minimumCalls)
	assert.Equal(t, DefaultWindowSize, b.cfg.windowSize)
	assert.Equal(t, DefaultOpenTimeout, b.cfg.openTimeout)
	assert.Equal(t, DefaultHalfOpenProbes, b.cfg.probes)
	assert.Equal(t, DefaultHalfOpenSuccesses, b.cfg.successes)
	assert.Zero(t, b.cfg.slowThreshold)
	assert.NotNil(t, b.classify)
	assert.Empty(t, b.cfg.onStateChange)
}

func TestClosedToOpenConsecutiveFailures(t *testing.T) {
	b, clk, _, tr := newTest(t, WithConsecutiveFailures(3), WithOpenTimeout(time.Minute))
	// A success resets the run of failures.
	require.NoError(t, call(t, b, errBoom, 0))
	require.NoError(t, call(t, b, errBoom, 0))
	require.NoError(t, call(t, b, nil, 0))
	require.NoError(t, call(t, b, errBoom, 0))
	require.NoError(t, call(t, b, errBoom, 0))
	assert.Equal(t, StateClosed, b.State())
	require.NoError(t, call(t, b, errBoom, 0))
	assert.Equal(t, StateOpen, b.State())
	assert.Equal(t, [][2]State{{StateClosed, StateOpen}}, tr.list())

	clk.Advance(20 * time.Second)
	done, err := b.Allow(context.Background())
	require.ErrorIs(t, err, ErrOpen)
	require.NotNil(t, done)
	done(nil, 0) // a rejection's done is a harmless no-op
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "test", oe.Name)
	assert.Equal(t, StateOpen, oe.State)
	assert.Equal(t, 40*time.Second, oe.Remaining)
	assert.Equal(t, `circuit: open: breaker "test" rejects calls for another 40s`, err.Error())
	assert.Equal(t, StateOpen, b.State())
}

func TestClosedToOpenFailureRateCountWindow(t *testing.T) {
	b, _, _, _ := newTest(t, WithConsecutiveFailures(0), WithCountWindow(10), WithFailureRate(0.5, 10))
	for i := 0; i < 9; i++ { // 5 failures in 9 calls: below the minimum
		var err error
		if i%2 == 0 {
			err = errBoom
		}
		require.NoError(t, call(t, b, err, 0))
	}
	assert.Equal(t, StateClosed, b.State())
	require.NoError(t, call(t, b, nil, 0)) // 5 of 10
	assert.Equal(t, StateOpen, b.State())
}

func TestCountWindowEvictsOldest(t *testing.T) {
	b, _, _, _ := newTest(t, WithConsecutiveFailures(0), WithCountWindow(3), WithFailureRate(1, 3))
	require.NoError(t, call(t, b, nil, 0))
	require.NoError(t, call(t, b, errBoom, 0))
	require.NoError(t, call(t, b, errBoom, 0)) // S F F: 2/3
	assert.Equal(t, StateClosed, b.State())
	require.NoError(t, call(t, b, errBoom, 0)) // F F F once S is evicted
	assert.Equal(t, StateOpen, b.State())
}

func TestTimeWindowExpiresOldCalls(t *testing.T) {
	b, clk, _, _ := newTest(t, WithConsecutiveFailures(0), WithTimeWindow(10*time.Second), WithFailureRate(0.5, 4))
	require.NoError(t, call(t, b, errBoom, 0))
	require.NoError(t, call(t, b, errBoom, 0))
	clk.Advance(11 * time.Second) // both failures leave the window
	require.NoError(t, call(t, b, nil, 0))
	require.NoError(t, call(t, b, nil, 0))
	require.NoError(t, call(t, b, errBoom, 0))
	require.NoError(t, call(t, b, nil, 0)) // 1 of 4 (would be 3 of 6 without expiry)
	assert.Equal(t, StateClosed, b.State())
	clk.Advance(5 * time.Second) // still inside the window
	require.NoError(t, call(t, b, errBoom, 0))
	assert.Equal(t, StateClosed, b.State()) // 2 of 5
	require.NoError(t, call(t, b, errBoom, 0))
	assert.Equal(t, StateOpen, b.State()) // 3 of 6
}

func TestSlowCallRateTrips(t *testing.T) {
	b, _, _, tr := newTest(t, WithConsecutiveFailures(0), WithoutFailureRate(), WithMinimumCalls(4),
		WithSlowCalls(100*time.Millisecond, 0.5))
	require.NoError(t, call(t, b, nil, 10*time.Millisecond))
	require.NoError(t, call(t, b, nil, 200*time.Millisecond))
	require.NoError(t, call(t, b, nil, 10*time.Millisecond))
	assert.Equal(t, StateClosed, b.State()) // minimum not reached
	require.NoError(t, call(t, b, nil, 100*time.Millisecond))
	assert.Equal(t, StateOpen, b.State()) // 2 slow of 4, no error at all
	assert.Equal(t, [][2]State{{StateClosed, StateOpen}}, tr.list())
}

func TestExpectedErrorsDoNotTrip(t *testing.T) {
	b, _, _, _ := newTest(t, WithConsecutiveFailures(2))
	for i := 0; i < 10; i++ {
		require.NoError(t, call(t, b, context.Canceled, 0))
	}
	assert.Equal(t, StateClosed, b.State())

	custom, _, _, _ := newTest(t, WithConsecutiveFailures(2),
		WithClassifier(func(err error) bool { return !errors.Is(err, errBoom) }))
	for i := 0; i < 10; i++ {
		require.NoError(t, call(t, custom, errBoom, 0))
	}
	assert.Equal(t, StateClosed, custom.State())
	require.NoError(t, call(t, custom, context.Canceled, 0))
	require.NoError(t, call(t, custom, context.Canceled, 0))
	assert.Equal(t, StateOpen, custom.State())
}

// trip opens b with consecutive failures.
func trip(t *testing.T, b *Breaker) {
	t.Helper()
	for b.gen.Load().state == StateClosed {
		require.NoError(t, call(t, b, errBoom, 0))
	}
	require.Equal(t, StateOpen, b.gen.Load().state)
}

func TestOpenReportsHalfOpenWhenTimeoutPassed(t *testing.T) {
	b, clk, reader, tr := newTest(t, WithConsecutiveFailures(1), WithOpenTimeout(30*time.Second))
	trip(t, b)
	clk.Advance(30*time.Second - time.Nanosecond)
	assert.Equal(t, "open", gaugeState(t, reader, "test"))
	assert.Equal(t, StateOpen, b.State())
	clk.Advance(time.Nanosecond)
	// No call has been made: the gauge and State still say half-open.
	assert.Equal(t, "half_open", gaugeState(t, reader, "test"))
	assert.Equal(t, [][2]State{{StateClosed, StateOpen}}, tr.list(), "collection changes nothing")
	assert.Equal(t, StateHalfOpen, b.State())
	assert.Equal(t, [][2]State{{StateClosed, StateOpen}, {StateOpen, StateHalfOpen}}, tr.list())
	assert.Equal(t, "half_open", gaugeState(t, reader, "test"))
}

func TestHalfOpenProbesAndSuccessThreshold(t *testing.T) {
	b, clk, _, tr := newTest(t, WithConsecutiveFailures(1), WithOpenTimeout(time.Second), WithHalfOpen(2, 3))
	trip(t, b)
	clk.Advance(time.Second)

	d1, err := b.Allow(context.Background())
	require.NoError(t, err)
	assert.Equal(t, StateHalfOpen, b.State())
	d2, err := b.Allow(context.Background())
	require.NoError(t, err)
	_, err = b.Allow(context.Background())
	require.ErrorIs(t, err, ErrOpen, "only two probes at a time")
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, StateHalfOpen, oe.State)
	assert.Zero(t, oe.Remaining)
	assert.Contains(t, err.Error(), "half-open")

	d1(nil, 0)
	d2(nil, 0)
	assert.Equal(t, StateHalfOpen, b.State(), "two of three successes")
	require.NoError(t, call(t, b, nil, 0))
	assert.Equal(t, StateClosed, b.State())
	assert.Equal(t, [][2]State{
		{StateClosed, StateOpen}, {StateOpen, StateHalfOpen}, {StateHalfOpen, StateClosed},
	}, tr.list())

	// Closing starts afresh: the earlier failure is forgotten.
	b2, clk2, _, _ := newTest(t, WithConsecutiveFailures(2), WithOpenTimeout(time.Second))
	require.NoError(t, call(t, b2, errBoom, 0))
	require.NoError(t, call(t, b2, errBoom, 0))
	clk2.Advance(time.Second)
	require.NoError(t, call(t, b2, nil, 0))
	require.Equal(t, StateClosed, b2.State())
	require.NoError(t, call(t, b2, errBoom, 0))
	assert.Equal(t, StateClosed, b2.State())
}

func TestHalfOpenProbeFailureReopensWithBackoff(t *testing.T) {
	b, clk, _, tr := newTest(t, WithConsecutiveFailures(1), WithOpenTimeout(time.Minute),
		WithOpenBackoff(2, 5*time.Minute))
	trip(t, b)
	wantTimeouts := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for i, want := range wantTimeouts {
		clk.Advance(want - time.Second)
		require.Equal(t, StateOpen, b.State(), "trip %d: still open 1s before %v", i, want)
		clk.Advance(time.Second)
		require.Equal(t, StateHalfOpen, b.State(), "trip %d: half-open after %v", i, want)
		if i < len(wantTimeouts)-1 {
			require.NoError(t, call(t, b, errBoom, 0)) // the probe fails
			require.Equal(t, StateOpen, b.State())
		}
	}
	require.NoError(t, call(t, b, nil, 0))
	require.Equal(t, StateClosed, b.State())
	// Closing resets the backoff.
	trip(t, b)
	clk.Advance(time.Minute)
	assert.Equal(t, StateHalfOpen, b.State())
	got := tr.list()
	require.Len(t, got, 2+2*4+1+2)
	assert.Equal(t, [2]State{StateHalfOpen, StateOpen}, got[2])
}

func TestSlowProbeReopens(t *testing.T) {
	b, clk, _, _ := newTest(t, WithConsecutiveFailures(1), WithOpenTimeout(time.Second),
		WithSlowCalls(time.Second, 1))
	trip(t, b)
	clk.Advance(time.Second)
	require.NoError(t, call(t, b, nil, 2*time.Second))
	assert.Equal(t, StateOpen, b.State())
}

func TestStaleDoneIsIgnored(t *testing.T) {
	b, clk, _, _ := newTest(t, WithConsecutiveFailures(2), WithOpenTimeout(time.Second))
	staleOK, err := b.Allow(context.Background())
	require.NoError(t, err)
	staleFail, err := b.Allow(context.Background())
	require.NoError(t, err)
	trip(t, b)
	clk.Advance(time.Second)
	probe, err := b.Allow(context.Background())
	require.NoError(t, err)
	require.Equal(t, StateHalfOpen, b.State())

	staleOK(nil, 0) // would close a half-open breaker if it counted
	assert.Equal(t, StateHalfOpen, b.State())
	staleFail(errBoom, 0) // would reopen it if it counted
	assert.Equal(t, StateHalfOpen, b.State())
	probe(nil, 0)
	assert.Equal(t, StateClosed, b.State())
}

func TestCallbackMayCallBreakerWithoutDeadlock(t *testing.T) {
	// gobreaker #37: a state-change callback that reads the breaker deadlocks
	// when callbacks run under the breaker's lock.
	clk := newFakeClock()
	var b *Breaker
	var seen []string
	var err error
	b, err = New("reentrant", withClock(clk.Now), WithConsecutiveFailures(1), WithOpenTimeout(time.Second),
		WithOnStateChange(func(name string, from, to State) {
			s := b.State()
			done, aerr := b.Allow(context.Background())
			if aerr == nil {
				done(nil, 0) // may itself change the state (a successful probe)
			}
			seen = append(seen, fmt.Sprintf("%s:%s->%s(state %s, allow %v)", name, from, to, s, aerr == nil))
		}))
	require.NoError(t, err)
	defer b.Close()

	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_ = call(t, b, errBoom, 0)
		clk.Advance(time.Second)
		_ = b.State()
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: a callback calling State/Allow never returned")
	}
	assert.Equal(t, []string{
		"reentrant:closed->open(state open, allow false)",
		"reentrant:open->half_open(state half_open, allow true)",
		"reentrant:half_open->closed(state closed, allow true)",
	}, seen, "callbacks run in order, changes made inside a callback are delivered after it")
	assert.Equal(t, StateClosed, b.State())
}

func TestPanickingCallbackDoesNotWedgeBreaker(t *testing.T) {
	clk := newFakeClock()
	var calls atomic.Int32
	b, err := New("panicky", withClock(clk.Now), WithConsecutiveFailures(1), WithOpenTimeout(time.Second),
		WithOnStateChange(func(string, State, State) {
			if calls.Add(1) == 1 {
				panic("callback")
			}
		}))
	require.NoError(t, err)
	defer b.Close()
	assert.Panics(t, func() { _ = call(t, b, errBoom, 0) })
	assert.Equal(t, StateOpen, b.State())
	clk.Advance(time.Second)
	assert.Equal(t, StateHalfOpen, b.State())
	assert.Equal(t, int32(2), calls.Load(), "callbacks still delivered after a panic")
}

func TestDo(t *testing.T) {
	b, clk, _, _ := newTest(t, WithConsecutiveFailures(2), WithOpenTimeout(time.Second),
		WithSlowCalls(time.Second, 0.5), WithFailureRate(0.5, 2))

	v, err := Do(context.Background(), b, func(context.Context) (int, error) { return 42, nil })
	require.NoError(t, err)
	assert.Equal(t, 42, v)

	// Do measures the duration with the breaker's clock: a slow call trips.
	v, err = Do(context.Background(), b, func(context.Context) (int, error) {
		clk.Advance(2 * time.Second)
		return 7, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	assert.Equal(t, StateOpen, b.State(), "1 slow call of 2 reaches the slow-call rate")

	ran := false
	v, err = Do(context.Background(), b, func(context.Context) (int, error) { ran = true; return 1, nil })
	require.ErrorIs(t, err, ErrOpen)
	assert.Zero(t, v)
	assert.False(t, ran, "a rejected Do never calls fn")

	// Errors come back unchanged.
	clk.Advance(time.Second)
	_, err = Do(context.Background(), b, func(context.Context) (string, error) { return "", errBoom })
	assert.Equal(t, errBoom, err)
	assert.Equal(t, StateOpen, b.State())

	// A nil breaker runs fn.
	s, err := Do(context.Background(), (*Breaker)(nil), func(context.Context) (string, error) { return "x", nil })
	require.NoError(t, err)
	assert.Equal(t, "x", s)
}

func TestDoPanicCountsAsFailure(t *testing.T) {
	b, clk, _, _ := newTest(t, WithConsecutiveFailures(1), WithOpenTimeout(time.Second))
	trip(t, b)
	clk.Advance(time.Second)
	assert.PanicsWithValue(t, "fn", func() {
		_, _ = Do(context.Background(), b, func(context.Context) (int, error) { panic("fn") })
	})
	// The probe slot is released and the probe counted as failed.
	assert.Equal(t, StateOpen, b.State())
}

func TestSpanEvents(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("test")

	b, clk, _, _ := newTest(t, WithConsecutiveFailures(2), WithOpenTimeout(time.Second))
	spanCall := func(name string, err error) {
		ctx, span := tracer.Start(context.Background(), name)
		defer span.End()
		if done, aerr := b.Allow(ctx); aerr == nil {
			done(err, 0)
		}
	}
	spanCall("first", errBoom)
	spanCall("trip", errBoom)
	spanCall("rejected", nil)
	clk.Advance(time.Second)
	spanCall("probe", nil)

	events := map[string][]string{}
	for _, s := range rec.Ended() {
		for _, e := range s.Events() {
			var parts []string
			for _, kv := range e.Attributes {
				parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
			}
			events[s.Name()] = append(events[s.Name()], e.Name+" "+strings.Join(parts, ","))
		}
	}
	assert.Empty(t, events["first"])
	assert.Equal(t, []string{semconv.EventCircuitStateChange +
		" nats.circuit.name=test,nats.circuit.from=closed,nats.circuit.to=open,nats.circuit.reason=consecutive_failures"},
		events["trip"])
	assert.Equal(t, []string{semconv.EventCircuitRejected + " nats.circuit.name=test,state=open"}, events["rejected"])
	assert.Equal(t, []string{
		semconv.EventCircuitStateChange + " nats.circuit.name=test,nats.circuit.from=open,nats.circuit.to=half_open,nats.circuit.reason=open_timeout",
		semconv.EventCircuitStateChange + " nats.circuit.name=test,nats.circuit.from=half_open,nats.circuit.to=closed,nats.circuit.reason=probes_succeeded",
	}, events["probe"])
}

func TestMetrics(t *testing.T) {
	b, clk, reader, _ := newTest(t, WithConsecutiveFailures(1), WithOpenTimeout(time.Second))
	assert.Equal(t, "closed", gaugeState(t, reader, "test"))
	trip(t, b)
	assert.Equal(t, "open", gaugeState(t, reader, "test"))
	for i := 0; i < 3; i++ {
		require.ErrorIs(t, call(t, b, nil, 0), ErrOpen)
	}
	clk.Advance(time.Second)
	assert.Equal(t, "half_open", gaugeState(t, reader, "test"))
	require.NoError(t, call(t, b, nil, 0))
	assert.Equal(t, "closed", gaugeState(t, reader, "test"))

	tr := func(from, to State) int64 {
		return counterValue(t, reader, semconv.MetricCircuitTransition,
			semconv.NATSCircuitNameKey.String("test"),
			semconv.NATSCircuitFromKey.String(from.String()), semconv.NATSCircuitToKey.String(to.String()))
	}
	assert.Equal(t, int64(1), tr(StateClosed, StateOpen))
	assert.Equal(t, int64(1), tr(StateOpen, StateHalfOpen))
	assert.Equal(t, int64(1), tr(StateHalfOpen, StateClosed))
	assert.Equal(t, int64(0), tr(StateHalfOpen, StateOpen))
	assert.Equal(t, int64(3), counterValue(t, reader, semconv.MetricCircuitRejected,
		semconv.NATSCircuitNameKey.String("test"), semconv.NATSCircuitStateKey.String("open")))

	// Close unregisters the gauge callback; a second Close is a no-op.
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	_, ok := collect(t, reader)[semconv.MetricCircuitState]
	assert.False(t, ok, "gauge still reported after Close")
}

func TestConcurrentCallers(t *testing.T) {
	const probes = 3
	b, clk, reader, tr := newTest(t, WithConsecutiveFailures(4), WithCountWindow(20), WithFailureRate(0.5, 10),
		WithSlowCalls(50*time.Millisecond, 0.8), WithOpenTimeout(100*time.Millisecond),
		WithOpenBackoff(1.5, time.Second), WithHalfOpen(probes, 2))

	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		rejected atomic.Int64
		allowed  atomic.Int64
	)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 3000; i++ {
				done, err := b.Allow(context.Background())
				if err != nil {
					// assert, not require: FailNow must not run off the test goroutine.
					assert.ErrorIs(t, err, ErrOpen)
					rejected.Add(1)
					clk.Advance(5 * time.Millisecond)
					continue
				}
				allowed.Add(1)
				var cerr error
				if (i+g)%3 == 0 {
					cerr = errBoom
				}
				done(cerr, time.Duration(i%100)*time.Millisecond)
				if i%50 == 0 {
					_ = b.State()
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() { // the clock moves while callers run
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			clk.Advance(50 * time.Millisecond)
			if i%10 == 0 {
				_ = gaugeState(t, reader, "test")
			}
			runtime.Gosched()
		}
	}()
	waitDone := make(chan struct{})
	go func() {
		defer close(waitDone)
		for allowed.Load()+rejected.Load() < 16*3000 {
			time.Sleep(time.Millisecond)
		}
		stop.Store(true)
	}()
	<-waitDone
	wg.Wait()

	final := b.State()
	got := tr.list()
	t.Logf("%d transitions, %d allowed, %d rejected", len(got), allowed.Load(), rejected.Load())
	require.Greater(t, len(got), 3, "the breaker went round the cycle")
	assert.Positive(t, rejected.Load())
	prev := StateClosed
	for i, c := range got {
		require.Equal(t, prev, c[0], "transition %d starts where the previous ended", i)
		require.Contains(t, [][2]State{
			{StateClosed, StateOpen}, {StateOpen, StateHalfOpen}, {StateHalfOpen, StateOpen}, {StateHalfOpen, StateClosed},
		}, c)
		prev = c[1]
	}
	assert.Equal(t, final, prev, "callbacks saw the last change")
	var sum int64
	for _, from := range states {
		for _, to := range states {
			sum += counterValue(t, reader, semconv.MetricCircuitTransition,
				semconv.NATSCircuitFromKey.String(from.String()), semconv.NATSCircuitToKey.String(to.String()))
		}
	}
	assert.Equal(t, int64(len(got)), sum, "one transitions count per callback")
	assert.Equal(t, rejected.Load(), counterValue(t, reader, semconv.MetricCircuitRejected))

	b.mu.Lock()
	defer b.mu.Unlock()
	assert.GreaterOrEqual(t, b.inFlight, 0)
	assert.LessOrEqual(t, b.inFlight, probes)
	assert.Empty(t, b.pending)
	assert.False(t, b.notifying)
}

func TestWindowTotals(t *testing.T) {
	c := defaultConfig()
	c.windowSize = 4
	w := newWindow(&c, time.Time{})
	seq := []uint8{outcomeFailed, outcomeSlow, outcomeFailed | outcomeSlow, 0, 0, outcomeFailed}
	want := [][3]int{{1, 1, 0}, {2, 1, 1}, {3, 2, 2}, {4, 2, 2}, {4, 1, 2}, {4, 2, 1}}
	for i, o := range seq {
		tot, f, s := w.add(time.Time{}, o)
		assert.Equal(t, want[i], [3]int{tot, f, s}, "step %d", i)
	}
	w.reset()
	tot, f, s := w.add(time.Time{}, 0)
	assert.Equal(t, [3]int{1, 0, 0}, [3]int{tot, f, s})
}

func TestLostProbeReopens(t *testing.T) {
	b, clk, _, tr := newTest(t, WithConsecutiveFailures(1), WithOpenTimeout(time.Minute), WithHalfOpen(1, 1))
	trip(t, b)
	clk.Advance(time.Minute)
	lost, err := b.Allow(context.Background()) // the probe whose done never comes
	require.NoError(t, err)
	clk.Advance(time.Minute - time.Second)
	require.ErrorIs(t, call(t, b, nil, 0), ErrOpen)
	assert.Equal(t, StateHalfOpen, b.State(), "the probe still has time")
	clk.Advance(time.Second)
	require.ErrorIs(t, call(t, b, nil, 0), ErrOpen)
	assert.Equal(t, StateOpen, b.State(), "a probe out for a whole open timeout counts as failed")
	assert.Equal(t, [2]State{StateHalfOpen, StateOpen}, tr.list()[2])
	lost(nil, 0) // too late: ignored
	assert.Equal(t, StateOpen, b.State())
	clk.Advance(time.Minute)
	require.NoError(t, call(t, b, nil, 0))
	assert.Equal(t, StateClosed, b.State())
}
