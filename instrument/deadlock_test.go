package instrument

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/metrics"
)

// Stress test of the lock discipline (docs/architecture.md): nats.go runs a
// sync or channel subscription's closed handler under its connection and
// subscription locks, and that handler untracks the subscription from the
// connection's metrics.Observer, while metric collection and Track query
// nats.go for the tracked subscriptions. None of it may wait for the other.
// A watchdog fails the test with a goroutine dump on a hang instead of
// letting the binary hang.
func TestSubscriptionChurnUnderCollectionNoDeadlock(t *testing.T) {
	const (
		workers    = 8
		runFor     = 2 * time.Second
		noProgress = 5 * time.Second // a hang: nothing moved for this long
		hardLimit  = 8 * time.Second // a hang: not finished by then
		liveSubs   = 16              // per worker: 128 in all, above metrics' sweep threshold
	)
	start := time.Now()
	srv := runServer(t)

	// No cleanup is registered that could block behind a hung lock
	// (nc.Close, the provider's Shutdown): they run only if nothing hung.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	// The default async error handler would print every slow consumer
	// (expected here: nothing reads the sync subscriptions).
	nc, err := nats.Connect(srv.URL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	require.NoError(t, err)
	rec := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	obs, err := rec.Observe(nc, "deadlock")
	require.NoError(t, err)
	c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp),
		WithSubscriptionTracker(obs.Track))

	var (
		progress atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	subject := func(w, i int) string { return fmt.Sprintf("deadlock.%d.%d", w, i%4) }

	for w := range workers {
		wg.Go(func() {
			var subs []*nats.Subscription
			ch := make(chan *nats.Msg, 8)
			closeSub := func(i int, sub *nats.Subscription) {
				var err error
				if i%5 == 0 {
					err = sub.Drain()
				} else {
					err = sub.Unsubscribe()
				}
				assert.NoError(t, err)
			}
			for i := 0; !stopped(); i++ {
				var (
					sub *nats.Subscription
					err error
				)
				switch i % 3 {
				case 0:
					sub, err = c.SubscribeSync(subject(w, i))
				case 1:
					sub, err = c.QueueSubscribeSync(subject(w, i), "q")
				default:
					sub, err = c.ChanSubscribe(subject(w, i), ch)
				}
				if !assert.NoError(t, err) {
					return
				}
				subs = append(subs, sub)
				if len(subs) > liveSubs || i%2 == 0 {
					closeSub(i, subs[0])
					subs = subs[1:]
				}
				for drained := false; !drained; {
					select {
					case <-ch:
					default:
						drained = true
					}
				}
				progress.Add(1)
			}
			for i, sub := range subs {
				closeSub(i, sub)
			}
		})
	}
	wg.Go(func() { // the collector, as a Prometheus scrape would
		for !stopped() {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, reader.Collect(context.Background(), &rm))
			progress.Add(1)
		}
	})
	wg.Go(func() { // the publisher, on the subscribed subjects
		for i := 0; !stopped(); i++ {
			assert.NoError(t, c.Publish(subject(i%workers, i), []byte("x")))
			progress.Add(1)
			if i%64 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})

	finished := make(chan struct{})
	go func() {
		wg.Wait()
		// A hung lock shows here too: a plain publish on the connection.
		if assert.NoError(t, nc.Publish("deadlock.after", []byte("x"))) {
			assert.NoError(t, nc.FlushTimeout(2*time.Second))
		}
		close(finished)
	}()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	runEnd := time.After(runFor)
	last, lastMove := progress.Load(), time.Now()
	for {
		select {
		case <-finished:
			t.Logf("no hang: %d steps in %v", progress.Load(), time.Since(start).Round(time.Millisecond))
			nc.Close()
			assert.NoError(t, mp.Shutdown(context.Background()))
			return
		case <-runEnd:
			close(stop)
			runEnd = nil
		case now := <-tick.C:
			if p := progress.Load(); p != last {
				last, lastMove = p, now
			}
			hung := ""
			switch {
			case now.Sub(lastMove) > noProgress:
				hung = fmt.Sprintf("no progress for %v (after %d steps)", noProgress, last)
			case now.Sub(start) > hardLimit:
				hung = fmt.Sprintf("not finished after %v", hardLimit)
			}
			if hung != "" {
				buf := make([]byte, 1<<22)
				buf = buf[:runtime.Stack(buf, true)]
				// The hung goroutines are left behind: the connection
				// and the provider are not closed (that would hang too).
				t.Fatalf("deadlock: %s\n\ngoroutine dump:\n%s", hung, buf)
			}
		}
	}
}
