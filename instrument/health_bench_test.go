package instrument

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/benchutil"
	"github.com/naq-io/naq/internal/natstest"
)

// BenchmarkConsumerHealth is the new API's Consume handler wrapper run on
// one delivered JetStream message (no server in the loop), with the
// consumer-health recording (health/on) and without it (health/off), in
// the same run: the difference is the per-message cost of
// nats.client.consumer.lag, .pending and .redelivered.
func BenchmarkConsumerHealth(b *testing.B) {
	p := benchutil.NewProviders(b)
	nc, err := nats.Connect(natstest.RunServer(b).URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	raw, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := raw.CreateStream(ctx, jetstream.StreamConfig{Name: "BH", Subjects: []string{"bh.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.PublishMsg(ctx, &nats.Msg{Subject: "bh.x", Data: []byte("x"),
		Header: nats.Header{"traceparent": {benchutil.Traceparent}}}); err != nil {
		b.Fatal(err)
	}
	cons, err := raw.CreateConsumer(ctx, "BH", jetstream.ConsumerConfig{Durable: "bh", AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		b.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		b.Fatal(err)
	}
	variants := []struct {
		name string
		opts []Option
	}{
		{"sampled", []Option{WithTracerProvider(p.Sampled), WithMeterProvider(p.Meter), WithPropagators(benchutil.W3C)}},
		{"metrics_only", []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(p.Meter), WithPropagators(benchutil.W3C)}},
	}
	for _, v := range variants {
		for _, on := range []bool{true, false} {
			pl := newPipeline(nc, v.opts)
			cs := newConsumerSpecs(pl, &mgmtSpecs{p: pl}, "BH", cons.CachedInfo())
			name := v.name + "/health/on"
			if !on {
				cs.health = nil
				name = v.name + "/health/off"
			}
			h := cs.handler(func(jetstream.Msg) {})
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					h(m)
				}
			})
		}
	}
}
