package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
)

// slowCounts returns nats.client.slow_consumers per destination.
func slowCounts(t *testing.T, rd *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, rd.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != semconv.MetricSlowConsumers {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				d, _ := p.Attributes.Value(semconv.MessagingDestinationNameKey)
				out[d.AsString()] += p.Value
			}
		}
	}
	return out
}

// Slow-consumer events racing with Track, untrack, unsubscribes and
// collections (under -race): every event is counted once, under the
// template of its subscription while tracked, else under _OTHER; other
// async errors are not counted; the async-error path takes no lock that
// collection holds.
func TestSlowConsumerEventsConcurrent(t *testing.T) {
	srv := natstest.RunServer(t)
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r := NewRecorder(WithMeterProvider(mp))
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer nc.Close()
	o, err := r.Observe(nc, "slow")
	require.NoError(t, err)

	const nsubs, workers, events = 32, 4, 512
	subs := make([]*nats.Subscription, nsubs)
	for i := range subs {
		subs[i], err = nc.SubscribeSync(fmt.Sprintf("slow.%d", i))
		require.NoError(t, err)
	}
	// A fixed half stays tracked throughout, under its own template.
	for i := 0; i < nsubs/2; i++ {
		o.Track(subs[i], fmt.Sprintf("kept.%d", i))
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // collection
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				var rm metricdata.ResourceMetrics
				assert.NoError(t, rd.Collect(context.Background(), &rm))
			}
		}
	}()
	go func() { // the other half: tracked, untracked, unsubscribed
		defer bg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			i := nsubs/2 + n%(nsubs/2)
			untrack := o.Track(subs[i], "churn")
			untrack()
			if n == nsubs { // once: unsubscribe a churned subscription
				assert.NoError(t, subs[i].Unsubscribe())
			}
		}
	}()

	var kept, total atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range events {
				i := (w*events + n) % nsubs
				o.asyncError(subs[i], nats.ErrSlowConsumer)
				o.asyncError(subs[i], errors.New("nats: permissions violation")) // not counted
				total.Add(1)
				if i < nsubs/2 {
					kept.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()

	counts := slowCounts(t, rd)
	var sum, keptSum int64
	for d, n := range counts {
		sum += n
		if len(d) > 5 && d[:5] == "kept." {
			keptSum += n
		}
	}
	assert.Equal(t, total.Load(), sum, "every event counted once")
	assert.Equal(t, kept.Load(), keptSum, "tracked subscriptions count under their template")
	assert.Equal(t, sum-keptSum, counts["churn"]+counts[semconv.OtherValue])
	assert.Equal(t, int64(events*workers/nsubs), counts["kept.0"])

	// Once the Observer stops, nothing more is counted.
	require.NoError(t, o.Close())
	o.asyncError(subs[0], nats.ErrSlowConsumer)
	assert.Equal(t, counts, slowCounts(t, rd))
}
