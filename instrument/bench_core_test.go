package instrument

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/benchutil"
)

// BenchmarkCore measures core calls behind the gate (what scope hands out),
// on the embedded server. The paths without a gate, beside raw nats.go and
// the dependency floors, are in bench_truth_test.go (BenchmarkPublish,
// BenchmarkRequest); compare in the same run:
//
//	metrics_only/publish_gate      noop tracer, SDK meter, closed gate
//	sampled_snapshot/publish_gate  always-sampling tracer with a span processor
//	                               that snapshots every span (as an exporter
//	                               does), SDK meter, closed gate
//	sampled_snapshot/request_gate  the same for a request (responder on
//	                               another connection)
//
// go test -run '^$' -bench 'Core|Publish|Request' -benchmem ./instrument
func BenchmarkCore(b *testing.B) {
	srv := runServer(b)
	nc := connect(b, srv)
	resp := connect(b, srv)
	if _, err := resp.Subscribe("bench.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		b.Fatal(err)
	}
	if err := resp.Flush(); err != nil {
		b.Fatal(err)
	}
	p := benchutil.NewProviders(b)
	data := []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	const subj = "bench.orders"
	gate := func(b *testing.B) *circuit.Gate {
		g, err := circuit.NewGate("bench", circuit.WithMeterProvider(p.Meter))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = g.Close() })
		return g
	}
	loop := func(b *testing.B, fn func() error) {
		b.ReportAllocs()
		for b.Loop() {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("metrics_only/publish_gate", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(p.Meter), WithPropagators(w3c),
			WithGate(gate(b)))
		loop(b, func() error { return c.Publish(subj, data) })
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("sampled_snapshot/publish_gate", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(p.Sampled), WithMeterProvider(p.Meter), WithPropagators(w3c),
			WithGate(gate(b)))
		loop(b, func() error { return c.Publish(subj, data) })
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("sampled_snapshot/request_gate", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(p.Sampled), WithMeterProvider(p.Meter), WithPropagators(w3c), WithGate(gate(b)))
		loop(b, func() error { _, err := c.Request("bench.echo", data, 5*time.Second); return err })
	})
}

// BenchmarkPipeline measures the pipeline alone, without the network: what a
// publish adds on top of nats.go (begin, header injection when a span
// context exists, end). The publish benchmarks above include the embedded
// server's share of the two cores, which makes them noisy; this one isolates
// the overhead that the ratios there are made of.
//
// sampled_snapshot has a span processor that snapshots every ended span as
// an exporter does (without one the SDK skips that work: the "sampled" case
// of older commits measured that optimistic path).
func BenchmarkPipeline(b *testing.B) {
	p := benchutil.NewProviders(b)
	mp, never, always := p.Meter, p.Unsampled, p.Sampled
	data := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name string
		opts []Option
	}{
		{"metrics_only", []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"unsampled", []Option{WithTracerProvider(never), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"sampled_snapshot", []Option{WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"filtered", []Option{WithTracerProvider(always), WithMeterProvider(mp), WithFilter(func(string, string) bool { return false })}},
	}
	// metrics_floor is what the two recordings of a publish cost at least
	// (a histogram Record through the metrics SDK with a precomputed
	// attribute set, the message counter's atomic add, two clock reads):
	// the part of metrics_only that naq cannot remove. (The former
	// sdk_floor made the count through a synchronous SDK counter.)
	b.Run("metrics_floor", func(b *testing.B) {
		p := newPipeline(nil, cases[0].opts)
		s := p.family(specConfig{Op: "publish", OpType: "send"}).spec("bench.orders")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			s.hist.Record(ctx, time.Since(start).Seconds(), s.recOpts...)
			s.count.Add(1)
		}
	})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			p := newPipeline(nil, tc.opts)
			f := p.family(specConfig{Op: "publish", OpType: "send"})
			b.ReportAllocs()
			for b.Loop() {
				s := f.spec("bench.orders")
				if !s.active() {
					continue
				}
				var c call
				ctx, err := p.begin(context.Background(), s, &c)
				if err != nil {
					b.Fatal(err)
				}
				// as Conn.Publish does
				if m := p.withTrace(ctx, c.spanContext(), nil, "bench.orders", "", nil, data, true); m != nil {
					putMsg(m)
				}
				c.end(nil)
			}
		})
	}
}
