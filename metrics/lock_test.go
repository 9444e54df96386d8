package metrics_test

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

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
)

// Track's untrack runs from a subscription's closed handler, which nats.go
// calls under its connection and subscription locks, while collection and
// Track's sweep query the tracked subscriptions: the Observer must never call
// nats.go while holding its own lock (docs/architecture.md, "Lock
// discipline"). A watchdog fails the test with a goroutine dump on a hang.
func TestTrackUntrackUnderCollectionNoDeadlock(t *testing.T) {
	const (
		workers  = 8
		runFor   = time.Second
		limit    = 6 * time.Second
		liveSubs = 16 // per worker: 128 in all, so Track sweeps too
	)
	s := natstest.RunServer(t)
	// Created by hand: nc.Close and the provider's Shutdown are not
	// registered as cleanups, which would hang behind a deadlock.
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	nc, err := nats.Connect(s.URL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	require.NoError(t, err)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	o, err := r.Observe(nc, "lock")
	require.NoError(t, err)

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
	for w := range workers {
		wg.Go(func() {
			var subs []*nats.Subscription
			ch := make(chan *nats.Msg, 4)
			for i := 0; !stopped(); i++ {
				subj := fmt.Sprintf("lock.%d.%d", w, i%4)
				var (
					sub *nats.Subscription
					err error
				)
				if i%2 == 0 {
					sub, err = nc.SubscribeSync(subj)
				} else {
					sub, err = nc.ChanSubscribe(subj, ch)
				}
				if !assert.NoError(t, err) {
					return
				}
				untrack := o.Track(sub, subj)
				if i%3 != 0 {
					// Untracked from the closed handler, as instrument
					// does; the others are dropped once found invalid.
					sub.SetClosedHandler(func(string) { untrack() })
				}
				assert.NoError(t, nc.Publish(subj, []byte("x")))
				subs = append(subs, sub)
				if len(subs) > liveSubs {
					assert.NoError(t, subs[0].Unsubscribe())
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
			for _, sub := range subs {
				assert.NoError(t, sub.Unsubscribe())
			}
		})
	}
	wg.Go(func() {
		for !stopped() {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, rd.Collect(context.Background(), &rm))
			progress.Add(1)
		}
	})
	time.AfterFunc(runFor, func() { close(stop) })

	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	start := time.Now()
	select {
	case <-finished:
	case <-time.After(limit):
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("deadlock: not finished after %v (%d steps)\n\ngoroutine dump:\n%s", limit, progress.Load(), buf)
	}
	t.Logf("no hang: %d steps in %v", progress.Load(), time.Since(start).Round(time.Millisecond))

	// Every subscription is gone: none is reported any more, and the
	// connection still works.
	var rm metricdata.ResourceMetrics
	require.NoError(t, rd.Collect(context.Background(), &rm))
	if m := find(rm, semconv.MetricSubPending); m != nil {
		g, _ := m.Data.(metricdata.Gauge[int64])
		assert.Empty(t, g.DataPoints, "no subscription reported after all unsubscribed")
	}
	require.NoError(t, nc.Publish("lock.after", []byte("x")))
	require.NoError(t, nc.FlushTimeout(2*time.Second))
	nc.Close()
	require.NoError(t, mp.Shutdown(context.Background()))
}

// Tracking a subscription again replaces its destination; the first
// registration's untrack then no longer removes it.
func TestTrackAgainKeepsLatest(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	nc := connect(t, s.URL())
	o, err := r.Observe(nc, "again")
	require.NoError(t, err)
	sub, err := nc.SubscribeSync("again.x")
	require.NoError(t, err)

	untrackA := o.Track(sub, "again.a")
	untrackB := o.Track(sub, "again.b")
	destA := semconv.MessagingDestinationTemplateKey.String("again.a")
	destB := semconv.MessagingDestinationTemplateKey.String("again.b")
	rm := collect(t, rd)
	_, ok := intValue(rm, semconv.MetricSubPending, destA)
	assert.False(t, ok, "replaced registration not reported")
	_, ok = intValue(rm, semconv.MetricSubPending, destB)
	assert.True(t, ok)

	untrackA()
	_, ok = intValue(collect(t, rd), semconv.MetricSubPending, destB)
	assert.True(t, ok, "a stale untrack keeps the newer registration")
	untrackB()
	_, ok = intValue(collect(t, rd), semconv.MetricSubPending, destB)
	assert.False(t, ok)
}
