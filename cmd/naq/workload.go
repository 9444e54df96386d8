package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/metrics"
	"github.com/naq-io/naq/scope"
)

// Names the workload uses. Subjects carry an id token on purpose: naq's
// subject namer turns demo.orders.<id> into the template demo.orders.*, so
// metrics and span names stay low-cardinality.
const (
	orderSubject   = "demo.orders."
	orderTemplate  = "demo.orders.*"
	orderQueue     = "order-workers"
	priceSubject   = "demo.price.quote"
	priceQueue     = "pricing"
	eventStream    = "DEMO_EVENTS"
	eventSubjects  = "demo.events.>"
	pushConsumer   = "shipper"
	pullConsumer   = "auditor"
	shipperBuffer  = 10 // messages the shipper's Consume holds client-side
	statusBucket   = "demo_status"
	requestTimeout = 500 * time.Millisecond
)

var eventKinds = []string{"demo.events.paid", "demo.events.shipped"}
var statusKeys = []string{"svc.api", "svc.worker", "svc.billing"}

// workloadLegend describes the workload once, before the first summary.
func workloadLegend(rate int) string {
	return fmt.Sprintf(`naq demo: workload, every call through naq's pooled scope and instrumentation:
  core       publish %s<id> (%d/s, templated to %s) -> queue group %q (2 workers, a short sleep each)
             request %s (%d/s) -> service in queue group %q; gated
  jetstream  publish %s (%d/s) -> stream %s -> consumer %q (Consume: process, ack; lag and pending per consumer)
             and consumer %q (Fetch: receive waits up to 500ms per batch, ack); gated
  kv         bucket %s: put %d/s, get, and a watcher (kv.watch); gated
%s  p50/p99 are estimated from the histogram buckets, as Prometheus' histogram_quantile does.
`,
		orderSubject, rate, orderTemplate, orderQueue,
		priceSubject, max(rate/10, 1), priceQueue,
		"demo.events.{paid,shipped}", max(rate/4, 1), eventStream, pushConsumer, pullConsumer,
		statusBucket, max(rate/20, 1), moreLegend(rate))
}

// workload is the running demo traffic.
type workload struct {
	stalled *atomic.Bool  // the pricing service ignores requests (chaos: stall)
	shipper *shipperState // the shipper consumer crawls (chaos: stall)
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	stopFns []func()
	scope   *scope.Scope
}

func (w *workload) onStop(fn func()) {
	w.mu.Lock()
	w.stopFns = append(w.stopFns, fn)
	w.mu.Unlock()
}

func (w *workload) goLoop(fn func()) {
	w.wg.Add(1)
	go func() { defer w.wg.Done(); fn() }()
}

// stop ends every loop, stops consumers and watchers, and releases the
// scope (the pool drains the connection when it is closed).
func (w *workload) stop() error {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	fns := w.stopFns
	w.stopFns = nil
	w.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.scope.Close(ctx)
}

// startWorkload acquires the pooled, instrumented connection and starts
// every part of the workload. ctx ends the loops.
//
// The scope pool does the wiring: one gate per connection config
// gating dials and the instrumented handles, connection metrics through the
// metrics recorder, spans and meters on the telemetry providers.
func (d *demo) startWorkload(ctx context.Context, rate int) (*workload, error) {
	mp, tp, prop := d.tel.MeterProvider(), d.tel.TracerProvider(), d.tel.Propagator()
	d.recorder = metrics.NewRecorder(metrics.WithMeterProvider(mp), metrics.WithRTTInterval(time.Second))

	var err error
	d.pool, err = scope.NewPool(
		scope.WithTracerProvider(tp),
		scope.WithMeterProvider(mp),
		scope.WithPropagators(prop),
		scope.WithRecorder(d.recorder),
		// Asynchronous errors (slow consumer, a write on a broken
		// connection) become event lines instead of nats.go's default
		// print to stderr; the recorder chains this handler, so
		// Snapshot.AsyncErrors still counts them.
		scope.WithNATSOptions(nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			d.event("connection error: %v", err)
		})),
		scope.WithGateOptions(circuit.WithOnGateStateChange(func(_, dest string, from, to circuit.State) {
			d.event("gate %s: %s -> %s", dest, from, to)
		})),
		scope.WithInstrumentOptions(instrument.WithServerTrace(d.serverTrace)),
	)
	if err != nil {
		return nil, err
	}
	s, err := d.pool.Acquire(ctx, d.cfg)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &workload{cancel: cancel, scope: s, stalled: &d.pricingStalled, shipper: &d.shipper}
	ok := false
	defer func() {
		if !ok {
			_ = w.stop()
		}
	}()

	raw := s.RawConn()
	d.gate.Store(s.Gate())
	d.nc.Store(raw)
	obs, found := d.recorder.Observer(raw)
	if !found {
		return nil, errors.New("the pool did not observe its connection")
	}

	// Request-reply, JetStream and KV go through the pool's instrumented
	// handles, gated by the connection's gate. Publishers and subscribers
	// use a wrapper of the same pooled connection of their own (core
	// publishes are never gated anyway: nats.go buffers them while it
	// reconnects).
	rpc := s.Conn()
	nc := instrument.NewConn(raw,
		instrument.WithTracerProvider(tp),
		instrument.WithMeterProvider(mp),
		instrument.WithPropagators(prop),
		instrument.WithConnectionName(d.cfg.ClientName),
		// Subscriptions report nats.client.subscription.pending/.dropped.
		instrument.WithSubscriptionTracker(obs.Track),
		instrument.WithServerTrace(d.serverTrace))
	js, err := s.JetStream()
	if err != nil {
		return nil, err
	}

	if d.server == nil {
		// On a configured server, remove what the demo created (registered
		// first, so it runs after the consumers and the watcher stopped).
		w.onStop(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = js.DeleteStream(cctx, eventStream)
			_ = js.DeleteKeyValue(cctx, statusBucket)
			_ = js.DeleteStream(cctx, legacyStream)
			_ = js.DeleteObjectStore(cctx, objectBucket)
		})
	}
	if err := startCore(wctx, w, nc, rpc, rate); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	if err := startJetStream(wctx, w, js, rate); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := startKV(wctx, w, js, rate); err != nil {
		return nil, fmt.Errorf("kv: %w", err)
	}
	if err := startLegacy(wctx, w, rpc, rate); err != nil {
		return nil, fmt.Errorf("legacy jetstream: %w", err)
	}
	if err := startService(wctx, w, rpc, rate); err != nil {
		return nil, fmt.Errorf("micro: %w", err)
	}
	if err := startObjects(wctx, w, js, rate); err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	ok = true
	return w, nil
}

// every runs fn perSecond times a second until ctx ends, one call at a
// time.
func every(ctx context.Context, perSecond float64, fn func(context.Context)) {
	period := time.Duration(float64(time.Second) / perSecond)
	period = max(period, time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// startCore: two publishers, a queue group of two workers, and a
// request-reply pricing service with a client.
func startCore(ctx context.Context, w *workload, nc, rpc *instrument.Conn, rate int) error {
	for range 2 {
		sub, err := nc.QueueSubscribeContext(orderTemplate, orderQueue, func(ctx context.Context, msg *nats.Msg) {
			// Simulated work: 20–300 µs.
			time.Sleep(time.Duration(20+rand.IntN(280)) * time.Microsecond)
		})
		if err != nil {
			return err
		}
		w.onStop(func() { _ = sub.Unsubscribe() })
	}
	svc, err := nc.QueueSubscribe(priceSubject, priceQueue, func(msg *nats.Msg) {
		if w.stalled.Load() {
			return // a hung service: the request times out
		}
		_ = msg.Respond([]byte(`{"price":42}`))
	})
	if err != nil {
		return err
	}
	w.onStop(func() { _ = svc.Unsubscribe() })

	payload := []byte(`{"order":"demo","amount":1}`)
	for range 2 {
		w.goLoop(func() {
			every(ctx, float64(rate)/2, func(ctx context.Context) {
				_ = nc.PublishContext(ctx, orderSubject+nuid.Next(), payload)
			})
		})
	}
	w.goLoop(func() {
		w.concurrently(ctx, float64(rate)/10, func(ctx context.Context) {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			_, _ = rpc.RequestWithContext(rctx, priceSubject, []byte(`{"sku":"demo"}`))
		})
	})
	return nil
}

// startJetStream: a stream, a publisher, a push-style consumer (Consume)
// and a pull consumer (Fetch).
func startJetStream(ctx context.Context, w *workload, js jetstream.JetStream, rate int) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name:      eventStream,
		Subjects:  []string{eventSubjects},
		Storage:   jetstream.FileStorage,
		MaxAge:    10 * time.Minute,
		MaxMsgs:   100_000,
		Retention: jetstream.LimitsPolicy,
	})
	if err != nil {
		return err
	}
	push, err := stream.CreateOrUpdateConsumer(sctx, jetstream.ConsumerConfig{
		Durable: pushConsumer, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return err
	}
	// A small client-side buffer (PullMaxMessages; nats.go's default is
	// 500), so that the pending count each message carries
	// (nats.client.consumer.pending) is the server's backlog of the moment:
	// when chaos stalls the shipper, its pending grows with its lag.
	cc, err := push.Consume(func(msg jetstream.Msg) {
		if md, err := msg.Metadata(); err == nil {
			w.shipper.delivered(md, time.Now())
		}
		if w.shipper.stalled.Load() {
			sleepCtx(ctx, chaosCrawl)
		}
		_ = msg.Ack()
	}, jetstream.PullMaxMessages(shipperBuffer))
	if err != nil {
		return err
	}
	w.onStop(cc.Stop)

	pull, err := stream.CreateOrUpdateConsumer(sctx, jetstream.ConsumerConfig{
		Durable: pullConsumer, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return err
	}
	w.goLoop(func() {
		for ctx.Err() == nil {
			batch, err := pull.Fetch(20, jetstream.FetchMaxWait(500*time.Millisecond))
			if err != nil {
				sleepCtx(ctx, 200*time.Millisecond)
				continue
			}
			for msg := range batch.Messages() {
				_ = msg.Ack()
			}
			if batch.Error() != nil && !errors.Is(batch.Error(), nats.ErrTimeout) {
				sleepCtx(ctx, 200*time.Millisecond)
			}
		}
	})

	w.goLoop(func() {
		var seq atomic.Int64
		w.concurrently(ctx, float64(rate)/4, func(ctx context.Context) {
			n := int(seq.Add(1))
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, _ = js.Publish(pctx, eventKinds[n%len(eventKinds)], []byte(`{"event":"demo"}`))
		})
	})
	return nil
}

// startKV: a bucket with service status updates, reads and a watcher.
func startKV(ctx context.Context, w *workload, js jetstream.JetStream, rate int) error {
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(kctx, jetstream.KeyValueConfig{Bucket: statusBucket, History: 5})
	if err != nil {
		return err
	}
	watcher, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	w.onStop(func() { _ = watcher.Stop() })
	w.goLoop(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-watcher.Updates():
				if !ok {
					return
				}
			}
		}
	})
	states := []string{"ok", "ok", "ok", "degraded"}
	w.goLoop(func() {
		var seq atomic.Int64
		w.concurrently(ctx, max(float64(rate)/20, 1), func(ctx context.Context) {
			n := int(seq.Add(1))
			key := statusKeys[n%len(statusKeys)]
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, _ = kv.PutString(pctx, key, states[rand.IntN(len(states))])
			if n%2 == 0 {
				_, _ = kv.Get(pctx, statusKeys[rand.IntN(len(statusKeys))])
			}
		})
	})
	return nil
}

// maxInFlight bounds the calls one concurrently loop has outstanding.
const maxInFlight = 32

// concurrently starts fn perSecond times a second, each call in its own
// goroutine with at most maxInFlight outstanding (a tick is skipped when
// all are busy), the way independent clients call a service: during an
// outage the calls pile up to their timeouts instead of queueing behind one
// another. fn's goroutines end with ctx; stop waits for them.
func (w *workload) concurrently(ctx context.Context, perSecond float64, fn func(context.Context)) {
	sem := make(chan struct{}, maxInFlight)
	every(ctx, perSecond, func(ctx context.Context) {
		select {
		case sem <- struct{}{}:
		default:
			return
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-sem }()
			fn(ctx)
		}()
	})
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
