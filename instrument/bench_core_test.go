package instrument

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/circuit"
)

// BenchmarkCore measures the core wrapper beside raw nats.go on the same
// embedded server, in one run:
//
//	raw/publish              nc.Publish
//	raw/publish_traceparent  nc.PublishMsg of one prebuilt message with a traceparent header
//	raw/publish_traceparent_fresh  the same header built per publish (hand-written propagation)
//	metrics_only/publish     noop tracer, SDK meter
//	unsampled/publish        SDK tracer that never samples, SDK meter
//	sampled/publish          SDK tracer that always samples, SDK meter
//	filtered/publish         Filter rejects the call
//	metrics_only/publish_gate  metrics_only behind a closed circuit.Breaker (what scope hands out)
//	sampled/publish_gate  sampled behind a closed circuit.Breaker
//	raw/request              nc.Request (responder on another connection)
//	raw/request_traceparent  nc.RequestMsg with a traceparent header
//	metrics_only/request     noop tracer, SDK meter
//	instrumented/request     sampled tracing + metrics
//
// Compare ns/op and allocs/op with `go test -run '^$' -bench Core -benchmem`.
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
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = never.Shutdown(context.Background())
		_ = always.Shutdown(context.Background())
	})

	data := []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	const subj = "bench.orders"

	publish := func(b *testing.B, pub func() error) {
		b.ReportAllocs()
		for b.Loop() {
			if err := pub(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("raw/publish", func(b *testing.B) {
		publish(b, func() error { return nc.Publish(subj, data) })
	})
	b.Run("raw/publish_traceparent", func(b *testing.B) {
		msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{
			"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		}}
		publish(b, func() error { return nc.PublishMsg(msg) })
	})
	b.Run("raw/publish_traceparent_fresh", func(b *testing.B) {
		// What hand-written propagation costs: a new message and header per publish.
		publish(b, func() error {
			return nc.PublishMsg(&nats.Msg{Subject: subj, Data: data, Header: nats.Header{
				"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			}})
		})
	})
	b.Run("metrics_only/publish", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c))
		publish(b, func() error { return c.Publish(subj, data) })
	})
	b.Run("unsampled/publish", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(never), WithMeterProvider(mp), WithPropagators(w3c))
		publish(b, func() error { return c.Publish(subj, data) })
	})
	b.Run("sampled/publish", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c))
		publish(b, func() error { return c.Publish(subj, data) })
	})
	gate := func(b *testing.B) *circuit.Gate {
		g, err := circuit.NewGate("bench", circuit.WithMeterProvider(mp))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = g.Close() })
		return g
	}
	b.Run("metrics_only/publish_gate", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c),
			WithGate(gate(b)))
		publish(b, func() error { return c.Publish(subj, data) })
	})
	b.Run("sampled/publish_gate", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c),
			WithGate(gate(b)))
		publish(b, func() error { return c.Publish(subj, data) })
	})
	b.Run("filtered/publish", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c),
			WithFilter(func(string, string) bool { return false }))
		publish(b, func() error { return c.Publish(subj, data) })
	})

	request := func(b *testing.B, req func() (*nats.Msg, error)) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := req(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("raw/request", func(b *testing.B) {
		request(b, func() (*nats.Msg, error) { return nc.Request("bench.echo", data, 5*time.Second) })
	})
	b.Run("raw/request_traceparent", func(b *testing.B) {
		hdr := nats.Header{"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
		request(b, func() (*nats.Msg, error) {
			return nc.RequestMsg(&nats.Msg{Subject: "bench.echo", Data: data, Header: hdr}, 5*time.Second)
		})
	})
	b.Run("metrics_only/request", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c))
		request(b, func() (*nats.Msg, error) { return c.Request("bench.echo", data, 5*time.Second) })
	})
	b.Run("instrumented/request", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c))
		request(b, func() (*nats.Msg, error) { return c.Request("bench.echo", data, 5*time.Second) })
	})
	b.Run("instrumented/request_gate", func(b *testing.B) {
		c := NewConn(nc, WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c), WithGate(gate(b)))
		request(b, func() (*nats.Msg, error) { return c.Request("bench.echo", data, 5*time.Second) })
	})
}

// BenchmarkPipeline measures the pipeline alone, without the network: what a
// publish adds on top of nats.go (begin, header injection when a span
// context exists, end). The publish benchmarks above include the embedded
// server's share of the two cores, which makes them noisy; this one isolates
// the overhead that the ratios there are made of.
func BenchmarkPipeline(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = never.Shutdown(context.Background())
		_ = always.Shutdown(context.Background())
	})
	data := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name string
		opts []Option
	}{
		{"metrics_only", []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"unsampled", []Option{WithTracerProvider(never), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"sampled", []Option{WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"filtered", []Option{WithTracerProvider(always), WithMeterProvider(mp), WithFilter(func(string, string) bool { return false })}},
	}
	// sdk_floor is what the metrics SDK alone costs for the two recordings a
	// publish makes (histogram + counter, precomputed attribute set, two
	// clock reads): the part of metrics_only that naq cannot remove.
	b.Run("sdk_floor", func(b *testing.B) {
		p := newPipeline(nil, cases[0].opts)
		s := p.family(specConfig{Op: "publish", OpType: "send"}).spec("bench.orders")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			s.hist.Record(ctx, time.Since(start).Seconds(), s.recOpts...)
			s.counter.Add(ctx, 1, s.addOpts...)
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
				ctx, c, err := p.begin(context.Background(), s)
				if err != nil {
					b.Fatal(err)
				}
				if needsInject(ctx) { // as Conn.Publish does
					msg := getMsg("bench.orders", data)
					p.inject(ctx, msg)
					putMsg(msg)
				}
				c.end(nil)
			}
		})
	}
}
