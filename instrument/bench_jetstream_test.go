package instrument

import (
	"context"
	"slices"
	"testing"
	"time"

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
//	paired/{publish,kv_put,kv_get}  raw and sampled calls alternated in one
//	                          loop; reports both medians and their ratio
//	paired/publish_traceparent  the same against raw publishes that carry a
//	                          traceparent header
//	paired/header_only        raw publish vs raw publish with the header: what
//	                          the header alone costs (server included)
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
	publishTraceparent := func() error {
		_, err := raw.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data, Header: nats.Header{
			"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		}})
		return err
	}
	b.Run("raw/publish_traceparent", func(b *testing.B) { loop(b, publishTraceparent) })
	b.Run("metrics_only/publish", func(b *testing.B) { loop(b, publish(metricsOnly)) })
	b.Run("sampled/publish", func(b *testing.B) { loop(b, publish(sampled)) })

	put := func(kv jetstream.KeyValue) func() error {
		return func() error { _, err := kv.Put(ctx, "key", data); return err }
	}
	get := func(kv jetstream.KeyValue) func() error {
		return func() error { _, err := kv.Get(ctx, "key"); return err }
	}
	// paired alternates raw and sampled calls in one loop, so that the load
	// of a shared machine hits both alike, and reports the median latency of
	// each and their ratio (the figure the 1.10× target is about).
	paired := func(b *testing.B, raw, inst func() error) {
		var rawD, instD []time.Duration
		for b.Loop() {
			for _, c := range [2]struct {
				fn func() error
				d  *[]time.Duration
			}{{raw, &rawD}, {inst, &instD}} {
				start := time.Now()
				if err := c.fn(); err != nil {
					b.Fatal(err)
				}
				*c.d = append(*c.d, time.Since(start))
			}
		}
		slices.Sort(rawD)
		slices.Sort(instD)
		r, i := rawD[len(rawD)/2], instD[len(instD)/2]
		b.ReportMetric(float64(r.Nanoseconds()), "raw-ns/call")
		b.ReportMetric(float64(i.Nanoseconds()), "sampled-ns/call")
		b.ReportMetric(float64(i)/float64(r), "ratio")
	}
	b.Run("paired/publish", func(b *testing.B) { paired(b, publish(raw), publish(sampled)) })
	b.Run("paired/publish_traceparent", func(b *testing.B) { paired(b, publishTraceparent, publish(sampled)) })
	b.Run("paired/header_only", func(b *testing.B) { paired(b, publish(raw), publishTraceparent) })
	b.Run("paired/kv_put", func(b *testing.B) { paired(b, put(rawKV), put(sampledKV)) })
	b.Run("paired/kv_get", func(b *testing.B) { paired(b, get(rawKV), get(sampledKV)) })

	b.Run("raw/kv_put", func(b *testing.B) { loop(b, put(rawKV)) })
	b.Run("sampled/kv_put", func(b *testing.B) { loop(b, put(sampledKV)) })
	b.Run("raw/kv_get", func(b *testing.B) { loop(b, get(rawKV)) })
	b.Run("sampled/kv_get", func(b *testing.B) { loop(b, get(sampledKV)) })
}
