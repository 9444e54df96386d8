package instrument

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/benchutil"
)

// BenchmarkLegacyJetStream measures the legacy JetStream wrapper
// (nats.JetStreamContext) beside raw nats.go on the same embedded server
// (memory storage), in one run, like BenchmarkJetStream for the new API:
//
//	raw/publish               js.Publish
//	raw/publish_traceparent   js.PublishMsg carrying a traceparent header (what ours sends)
//	metrics_only/publish      noop tracer, SDK meter
//	sampled_snapshot/publish  SDK tracer that always samples, with the span
//	                          processor that snapshots every ended span as an
//	                          exporter does (benchutil.NewProviders), SDK meter
//	raw/publish_msg, sampled_snapshot/publish_msg  PublishMsg of a caller's
//	                          message (ours sends a pooled copy carrying the header)
//	paired_snapshot/{publish,publish_traceparent,publish_msg}  raw and
//	                          sampled_snapshot calls alternated in one loop;
//	                          medians and their ratio
//
// (The sampled and paired cases of older commits ran without a span
// processor, which skips building the span's snapshot: renamed so that
// benchstat never compares the two.)
//
// Compare ns/op with `go test -run '^$' -bench LegacyJetStream -benchmem`;
// the target is the new API's: sampled ≤ 1.10× raw.
func BenchmarkLegacyJetStream(b *testing.B) {
	srv := runServer(b)
	nc := connect(b, srv)
	raw, err := nc.JetStream()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := raw.AddStream(&nats.StreamConfig{
		Name: "LBENCH", Subjects: []string{"lbench.>"}, Storage: nats.MemoryStorage, MaxMsgs: 10_000,
	}); err != nil {
		b.Fatal(err)
	}
	p := benchutil.NewProviders(b)
	mp, always := p.Meter, p.Sampled
	metricsOnly := NewJetStreamContext(raw, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c))
	sampled := NewJetStreamContext(raw, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c))

	data := []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	const subj = "lbench.orders"
	loop := func(b *testing.B, fn func() error) {
		b.ReportAllocs()
		for b.Loop() {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
	}
	publish := func(js nats.JetStreamContext) func() error {
		return func() error { _, err := js.Publish(subj, data); return err }
	}
	msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{"App": {"v"}}}
	publishMsg := func(js nats.JetStreamContext) func() error {
		return func() error { _, err := js.PublishMsg(msg); return err }
	}
	publishTraceparent := func() error {
		_, err := raw.PublishMsg(&nats.Msg{Subject: subj, Data: data, Header: nats.Header{
			"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		}})
		return err
	}

	b.Run("raw/publish", func(b *testing.B) { loop(b, publish(raw)) })
	b.Run("raw/publish_traceparent", func(b *testing.B) { loop(b, publishTraceparent) })
	b.Run("metrics_only/publish", func(b *testing.B) { loop(b, publish(metricsOnly)) })
	b.Run("sampled_snapshot/publish", func(b *testing.B) { loop(b, publish(sampled)) })
	b.Run("raw/publish_msg", func(b *testing.B) { loop(b, publishMsg(raw)) })
	b.Run("sampled_snapshot/publish_msg", func(b *testing.B) { loop(b, publishMsg(sampled)) })

	b.Run("paired_snapshot/publish", func(b *testing.B) { pairedMedians(b, publish(raw), publish(sampled)) })
	b.Run("paired_snapshot/publish_traceparent", func(b *testing.B) { pairedMedians(b, publishTraceparent, publish(sampled)) })
	b.Run("paired_snapshot/publish_msg", func(b *testing.B) { pairedMedians(b, publishMsg(raw), publishMsg(sampled)) })
}

// pairedMedians alternates raw and instrumented calls in one loop, so that
// the load of a shared machine hits both alike, and reports the median
// latency of each and their ratio.
func pairedMedians(b *testing.B, raw, inst func() error) {
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
