package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/naq-io/naq/instrument"
)

// The rest of the workload: the nats.go code people have besides the new
// JetStream API (legacy nats.JetStreamContext, a micro service) and an
// ObjectStore bucket, all through the pool's instrumented handles.
const (
	legacyStream   = "DEMO_LEGACY"
	legacySubjects = "demo.legacy.>"
	legacySubject  = "demo.legacy.invoice"
	legacyPush     = "legacy-shipper"
	legacyPull     = "legacy-auditor"
	quoteService   = "demo-quotes"
	quoteGroup     = "demo.quotes"
	quoteEndpoint  = "get"
	quoteSubject   = quoteGroup + "." + quoteEndpoint
	objectBucket   = "demo_objects"
)

var objectNames = []string{"report-1", "report-2", "report-3"}

// legacyRate, quoteRate and objectRate are the per-second rates of the
// legacy JetStream publisher, the micro service client and the ObjectStore
// put+get: light beside the core publishers.
func legacyRate(rate int) int { return max(rate/20, 1) }
func quoteRate(rate int) int  { return max(rate/20, 1) }
func objectRate(rate int) int { return max(rate/100, 1) }

// moreLegend describes these parts of the workload for workloadLegend.
func moreLegend(rate int) string {
	return fmt.Sprintf(`  legacy     nats.JetStreamContext: publish %s (%d/s) -> stream %s -> push
             subscription %q (handler: process, ack) and pull subscription %q
             (FetchJS: receive waits up to 500ms per batch; ProcessJS, ack); gated
  micro      service %q, endpoint %s in group %q <- request (%d/s)
  objects    bucket %s: put and get of a small object (%d/s); gated
`,
		legacySubject, legacyRate(rate), legacyStream, legacyPush, legacyPull,
		quoteService, quoteSubject, quoteGroup, quoteRate(rate),
		objectBucket, objectRate(rate))
}

// startLegacy: a stream made through the instrumented legacy JetStream
// context (Conn.JetStream), a publisher, a push subscription with a handler
// (manual ack) and a pull subscription fetched with instrument.FetchJS.
// Settles go through instrument.Ack: msg.Ack is a method of the
// *nats.Msg struct and can't be traced.
func startLegacy(ctx context.Context, w *workload, rpc *instrument.Conn, rate int) error {
	js, err := rpc.JetStream()
	if err != nil {
		return err
	}
	cfg := &nats.StreamConfig{
		Name:      legacyStream,
		Subjects:  []string{legacySubjects},
		Storage:   nats.FileStorage,
		MaxAge:    10 * time.Minute,
		MaxMsgs:   100_000,
		Retention: nats.LimitsPolicy,
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.AddStream(cfg, nats.Context(sctx)); errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		_, err = js.UpdateStream(cfg, nats.Context(sctx))
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}

	// Push: nats.go creates the durable consumer (and deletes it on
	// Unsubscribe); the handler runs in a "process DEMO_LEGACY" span, and
	// ContextFromMsg returns its context for the ack.
	push, err := js.Subscribe(legacySubjects, func(msg *nats.Msg) {
		_ = instrument.Ack(instrument.ContextFromMsg(msg), js, msg)
	}, nats.BindStream(legacyStream), nats.Durable(legacyPush), nats.ManualAck(), nats.AckExplicit(), nats.DeliverNew())
	if err != nil {
		return err
	}
	w.onStop(func() { _ = push.Unsubscribe() })

	// Pull: one "receive DEMO_LEGACY" span per batch, a process span per
	// message, an ack span per settle.
	pull, err := js.PullSubscribe(legacySubjects, legacyPull, nats.BindStream(legacyStream), nats.DeliverNew())
	if err != nil {
		return err
	}
	w.onStop(func() { _ = pull.Unsubscribe() })
	w.goLoop(func() {
		for ctx.Err() == nil {
			fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			msgs, err := instrument.FetchJS(fctx, js, pull, 20, nats.Context(fctx))
			cancel()
			for _, msg := range msgs {
				_ = instrument.ProcessJS(js, msg, func(ctx context.Context, msg *nats.Msg) error {
					return instrument.Ack(ctx, js, msg)
				})
			}
			if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				sleepCtx(ctx, 200*time.Millisecond)
			}
		}
	})

	w.goLoop(func() {
		w.concurrently(ctx, float64(legacyRate(rate)), func(ctx context.Context) {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, _ = js.Publish(legacySubject, []byte(`{"invoice":"demo"}`), nats.Context(pctx))
		})
	})
	return nil
}

// startService: a micro service with one endpoint in a group, added through
// the instrumented connection (each request a SERVER span "process
// demo.quotes.get", child of the client's request span), and a client.
func startService(ctx context.Context, w *workload, rpc *instrument.Conn, rate int) error {
	svc, err := rpc.AddService(micro.Config{
		Name:        quoteService,
		Version:     "1.0.0",
		Description: "naq demo: quotes",
	})
	if err != nil {
		return err
	}
	w.onStop(func() { _ = svc.Stop() })
	err = svc.AddGroup(quoteGroup).AddEndpoint(quoteEndpoint, micro.HandlerFunc(func(req micro.Request) {
		_ = req.Respond([]byte(`{"quote":42}`))
	}))
	if err != nil {
		return err
	}
	w.goLoop(func() {
		w.concurrently(ctx, float64(quoteRate(rate)), func(ctx context.Context) {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			_, _ = rpc.RequestWithContext(rctx, quoteSubject, []byte(`{"sku":"demo"}`))
		})
	})
	return nil
}

// startObjects: an ObjectStore bucket from the instrumented JetStream handle
// (so the bucket is instrumented too) with a put and a get of a small
// object, cycling over a few names.
func startObjects(ctx context.Context, w *workload, js jetstream.JetStream, rate int) error {
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	obs, err := js.CreateOrUpdateObjectStore(octx, jetstream.ObjectStoreConfig{
		Bucket:      objectBucket,
		Description: "naq demo",
		MaxBytes:    8 << 20,
	})
	if err != nil {
		return err
	}
	data := make([]byte, 4<<10)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	var seq atomic.Int64
	putGet := func(ctx context.Context) {
		name := objectNames[int(seq.Add(1))%len(objectNames)]
		// Not cancelled when the demo stops (stop waits up to 2s): nats.go's
		// Get can leak its chunk handler when its context ends while it
		// creates the chunk consumer (see natsGoLeaks in leaks_test.go).
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, err := obs.PutBytes(pctx, name, data); err != nil {
			return
		}
		_, _ = obs.GetBytes(pctx, name)
	}
	w.goLoop(func() {
		putGet(ctx) // once at start: the bucket has an object from the first summary on
		w.concurrently(ctx, float64(objectRate(rate)), putGet)
	})
	return nil
}
