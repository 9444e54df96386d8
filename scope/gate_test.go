package scope_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/scope"
)

// One destination's trouble never touches another: with scope's default
// gate, 50 no-responder requests, 50 requests whose own deadline expires
// and 50 calls with invalid names on destination A leave every one of 100
// calls to destination B (requests, JetStream publishes, KV puts) working,
// on the same pooled connection, and readiness healthy.
func TestGateCollateral(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	ctx := context.Background()
	s, err := p.Acquire(ctx, cfgFor(srv))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(ctx)) }()
	c := s.Conn()
	js, err := s.JetStream()
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}})
	require.NoError(t, err)
	kvB, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	require.NoError(t, err)
	_, err = c.Subscribe("svc.b", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
	require.NoError(t, err)
	require.NoError(t, c.Flush())

	// Destination A: nobody answers.
	for range 50 {
		_, err := c.Request("svc.a", nil, time.Second)
		require.ErrorIs(t, err, nats.ErrNoResponders)
	}
	// Destination A: a silent responder, so each caller's deadline expires.
	silent, err := s.RawConn().SubscribeSync("svc.a")
	require.NoError(t, err)
	require.NoError(t, c.Flush())
	var deadlines, rejected int
	for range 50 {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		_, err := c.RequestWithContext(rctx, "svc.a", nil)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			deadlines++
		case errors.Is(err, circuit.ErrOpen):
			rejected++ // A's own breaker, tripped by A's own timeouts
		default:
			t.Fatalf("request to svc.a: %v", err)
		}
	}
	require.NoError(t, silent.Unsubscribe())
	// Destination A: invalid names.
	for i := range 50 {
		switch i % 3 {
		case 0:
			_, err = js.Stream(ctx, "bad.name")
			require.ErrorIs(t, err, jetstream.ErrInvalidStreamName)
		case 1:
			_, err = kvB.Get(ctx, "bad key*")
			require.ErrorIs(t, err, jetstream.ErrInvalidKey)
		default:
			_, err = js.Publish(ctx, "", nil)
			require.Error(t, err)
			require.NotErrorIs(t, err, circuit.ErrOpen)
		}
	}

	// Destination B: all of it works.
	okCalls := 0
	for i := range 100 {
		switch i % 3 {
		case 0:
			m, err := c.Request("svc.b", nil, 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, "ok", string(m.Data))
		case 1:
			_, err := js.Publish(ctx, fmt.Sprintf("b.%d", i), []byte("x"))
			require.NoError(t, err)
		default:
			_, err := kvB.Put(ctx, fmt.Sprintf("k%d", i), []byte("v"))
			require.NoError(t, err)
		}
		okCalls++
	}
	assert.Equal(t, 100, okCalls)
	hr, err := s.Health(ctx)
	assert.NoError(t, err, "readiness follows connection health, not destination breakers")
	st := s.Gate().State()
	assert.Equal(t, st.Destinations, hr.OpenBreakers, "open breakers are reported as detail")
	assert.Equal(t, circuit.StateClosed, st.Connection)
	for _, d := range st.Destinations {
		assert.Equal(t, "request svc.a", d.Destination, "only A's own breaker may open")
	}
	t.Logf("collateral: A got 50 no-responders, %d expired deadlines, %d rejected by A's breaker, 50 invalid names; B 100/100; open: %v",
		deadlines, rejected, st.Destinations)
}

// The outage test: a single server stopped for 5 s under a mixed load (4
// request workers and a publisher at 100/s) through scope's defaults.
// Requests fail fast soon after the stop; after the client reconnects they
// succeed at once, and almost none are rejected after the reconnect.
func TestGateOutage(t *testing.T) {
	srv := startServer(t)
	var reconnectedAt atomic.Int64
	p := newPool(t, scope.WithNATSOptions(nats.ReconnectHandler(func(*nats.Conn) {
		reconnectedAt.CompareAndSwap(0, time.Now().UnixNano())
	})))
	ctx := context.Background()
	cfg := cfgFor(srv)
	cfg.ReconnectTimeWait = 100 * time.Millisecond
	cfg.MaxReconnectAttempts = -1
	s, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(ctx)) }()

	responder, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer responder.Close()
	_, err = responder.Subscribe("svc.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	require.NoError(t, err)
	require.NoError(t, responder.Flush())
	c := s.Conn()

	type result struct {
		start, end time.Time
		err        error
	}
	var mu sync.Mutex
	var results []result
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wctx.Err() == nil {
				start := time.Now()
				_, err := c.Request("svc.echo", []byte("ping"), 2*time.Second)
				mu.Lock()
				results = append(results, result{start, time.Now(), err})
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	// A prober starts a request every 50 ms on a goroutine of its own, so
	// that the moment calls start failing fast is seen even while every
	// worker still waits on a request sent before the stop.
	var probes sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for wctx.Err() == nil {
			<-tick.C
			probes.Add(1)
			go func() {
				defer probes.Done()
				start := time.Now()
				_, err := c.Request("svc.echo", []byte("probe"), 2*time.Second)
				mu.Lock()
				results = append(results, result{start, time.Now(), err})
				mu.Unlock()
			}()
		}
	}()
	var published, pubErrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for wctx.Err() == nil {
			<-tick.C
			if err := c.Publish("load.events", []byte("x")); err != nil {
				pubErrs.Add(1)
			} else {
				published.Add(1)
			}
		}
	}()

	time.Sleep(time.Second)
	stoppedAt := time.Now()
	srv.Stop()
	time.Sleep(5 * time.Second)
	srv.Restart()
	require.Eventually(t, func() bool { return reconnectedAt.Load() != 0 }, 15*time.Second, 10*time.Millisecond)
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()
	probes.Wait()

	reconnected := time.Unix(0, reconnectedAt.Load())
	var firstReject, firstOKAfter time.Time
	var rejectedAfter, okBefore, slowDuring int
	var maxFastFail time.Duration
	for _, r := range results {
		switch {
		case errors.Is(r.err, circuit.ErrOpen):
			if firstReject.IsZero() || r.end.Before(firstReject) {
				firstReject = r.end
			}
			if r.start.After(reconnected) {
				rejectedAfter++
			}
			maxFastFail = max(maxFastFail, r.end.Sub(r.start))
		case r.err == nil:
			if r.start.Before(stoppedAt) {
				okBefore++
			}
			if r.end.After(reconnected) && (firstOKAfter.IsZero() || r.end.Before(firstOKAfter)) {
				firstOKAfter = r.end
			}
		}
		// A request started well into the outage must not wait for its
		// timeout: it fails fast.
		if r.start.After(stoppedAt.Add(1500*time.Millisecond)) && r.start.Before(reconnected) &&
			r.end.Sub(r.start) > 500*time.Millisecond {
			slowDuring++
		}
	}
	require.Positive(t, okBefore)
	require.False(t, firstReject.IsZero(), "no call failed fast during the outage")
	require.False(t, firstOKAfter.IsZero(), "no call succeeded after the reconnect")
	failFastAfter := firstReject.Sub(stoppedAt)
	okAfter := firstOKAfter.Sub(reconnected)
	t.Logf("outage: %d requests; first fail-fast %v after the stop (slowest rejection %v); reconnect %v after the stop; "+
		"first success %v after the reconnect; %d rejected after the reconnect; %d requests started in the outage waited > 500ms; "+
		"publishes ok %d, failed %d",
		len(results), failFastAfter.Round(time.Millisecond), maxFastFail.Round(time.Microsecond),
		reconnected.Sub(stoppedAt).Round(time.Millisecond), okAfter.Round(time.Millisecond), rejectedAfter, slowDuring,
		published.Load(), pubErrs.Load())
	assert.Less(t, failFastAfter, 1500*time.Millisecond, "requests fail fast within 1.5s of the stop")
	assert.Less(t, okAfter, time.Second, "requests succeed within 1s of the reconnect")
	assert.Less(t, rejectedAfter, 20, "fewer than 20 calls rejected after the reconnect")
	assert.Zero(t, slowDuring, "requests during the outage fail fast, they don't wait for their timeout")
	assert.Zero(t, pubErrs.Load(), "core publishes are buffered by nats.go, never failed by the gate")

	durations := make([]time.Duration, 0, len(results))
	for _, r := range results {
		if errors.Is(r.err, circuit.ErrOpen) {
			durations = append(durations, r.end.Sub(r.start))
		}
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	if n := len(durations); n > 0 {
		t.Logf("outage: %d fail-fast rejections, median %v, max %v", n, durations[n/2], durations[n-1])
	}
}
