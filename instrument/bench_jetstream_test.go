package instrument

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// BenchmarkJetStream measures the JetStream and KeyValue wrappers beside raw
// nats.go on the same embedded server (memory storage), in one run:
//
//	raw/publish               js.Publish
//	raw/publish_traceparent   js.PublishMsg carrying a traceparent header (what ours sends)
//	metrics_only/publish      noop tracer, SDK meter
//	sampled/publish           SDK tracer that always samples, SDK meter
//	raw/kv_put, sampled/kv_put
//	raw/kv_get, sampled/kv_get
//
// Compare ns/op with `go test -run '^$' -bench JetStream -benchmem`; the
// target is sampled ≤ 1.10× raw.
func BenchmarkJetStream(b *testing.B) {
	srv := runServer(b)
	nc := connect(b, srv)
	raw, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := raw.CreateStream(ctx, jetstream.StreamConfig{
		Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.MemoryStorage, MaxMsgs: 10_000,
	}); err != nil {
		b.Fatal(err)
	}
	rawKV, err := raw.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench", Storage: jetstream.MemoryStorage})
	if err != nil {
		b.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = always.Shutdown(context.Background())
	})
	metricsOnly := NewJetStream(raw, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c))
	sampled := NewJetStream(raw, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c))
	sampledKV := NewKeyValue(rawKV, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c))

	data := []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	const subj = "bench.orders"
	loop := func(b *testing.B, fn func() error) {
		b.ReportAllocs()
		for b.Loop() {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
	}
	publish := func(js jetstream.JetStream) func() error {
		return func() error { _, err := js.Publish(ctx, subj, data); return err }
	}

	b.Run("raw/publish", func(b *testing.B) { loop(b, publish(raw)) })
	b.Run("raw/publish_traceparent", func(b *testing.B) {
		loop(b, func() error {
			_, err := raw.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data, Header: nats.Header{
				"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			}})
			return err
		})
	})
	b.Run("metrics_only/publish", func(b *testing.B) { loop(b, publish(metricsOnly)) })
	b.Run("sampled/publish", func(b *testing.B) { loop(b, publish(sampled)) })

	put := func(kv jetstream.KeyValue) func() error {
		return func() error { _, err := kv.Put(ctx, "key", data); return err }
	}
	get := func(kv jetstream.KeyValue) func() error {
		return func() error { _, err := kv.Get(ctx, "key"); return err }
	}
	b.Run("raw/kv_put", func(b *testing.B) { loop(b, put(rawKV)) })
	b.Run("sampled/kv_put", func(b *testing.B) { loop(b, put(sampledKV)) })
	b.Run("raw/kv_get", func(b *testing.B) { loop(b, get(rawKV)) })
	b.Run("sampled/kv_get", func(b *testing.B) { loop(b, get(sampledKV)) })
}
