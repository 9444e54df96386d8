package instrument

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/benchutil"
)

// BenchmarkMicro measures a micro service request-reply beside raw nats.go
// on the same embedded server, in one run (client and service on two
// connections; each case has its own service and endpoint subject):
//
//	raw/request           micro.AddService + nc.Request
//	metrics_only/request  instrument.AddService + Conn.Request, noop tracer, SDK meter
//	unsampled/request     SDK tracer that never samples, SDK meter (both sides)
//	sampled_snapshot/request  SDK tracer that always samples, with the span
//	                      processor that snapshots every ended span as an
//	                      exporter does (benchutil.NewProviders), SDK meter
//	                      (both sides; "sampled" in older commits, without a
//	                      processor)
//
// Compare with the core request ratios of BenchmarkCore:
// `go test -run '^$' -bench 'Micro|Core/.*request' -benchmem`.
func BenchmarkMicro(b *testing.B) {
	srv := runServer(b)
	nc := connect(b, srv)
	svcConn := connect(b, srv)
	p := benchutil.NewProviders(b)
	mp, never, always := p.Meter, p.Unsampled, p.Sampled
	data := []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	echo := micro.HandlerFunc(func(req micro.Request) { _ = req.Respond(req.Data()) })

	// run adds a service named name (add: micro.AddService or the
	// instrumented one) with endpoint "bench.<name>" and measures req on it.
	run := func(b *testing.B, name string, add func(micro.Config) (micro.Service, error), req func(subj string) (*nats.Msg, error)) {
		svc, err := add(micro.Config{Name: name, Version: "1.0.0"})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = svc.Stop() }()
		subj := "bench." + name
		if err := svc.AddEndpoint(name, echo, micro.WithEndpointSubject(subj)); err != nil {
			b.Fatal(err)
		}
		if err := svcConn.Flush(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := req(subj); err != nil {
				b.Fatal(err)
			}
		}
	}
	rawReq := func(subj string) (*nats.Msg, error) { return nc.Request(subj, data, 5*time.Second) }

	b.Run("raw/request", func(b *testing.B) {
		run(b, "raw", func(cfg micro.Config) (micro.Service, error) { return micro.AddService(svcConn, cfg) }, rawReq)
	})
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"metrics_only", []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"unsampled", []Option{WithTracerProvider(never), WithMeterProvider(mp), WithPropagators(w3c)}},
		{"sampled_snapshot", []Option{WithTracerProvider(always), WithMeterProvider(mp), WithPropagators(w3c)}},
	} {
		b.Run(tc.name+"/request", func(b *testing.B) {
			c := NewConn(nc, tc.opts...)
			run(b, tc.name, func(cfg micro.Config) (micro.Service, error) { return AddService(svcConn, cfg, tc.opts...) },
				func(subj string) (*nats.Msg, error) { return c.Request(subj, data, 5*time.Second) })
		})
	}
}
