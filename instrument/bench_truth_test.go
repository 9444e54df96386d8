package instrument_test

// Benchmarks that tell the truth (docs/benchmarks.md): every instrumented
// path beside its raw nats.go twin and the dependency floors, in one run.
//
//	<path>/raw            raw nats.go doing the same thing
//	<path>/naq/<variant>  the naq wrapper: sampled (always-sampling SDK tracer
//	                      with a span processor that snapshots every span as
//	                      an exporter does, SDK meter), unsampled (never-
//	                      sampling tracer, SDK meter), metrics_only (noop
//	                      tracer, SDK meter), filtered (a Filter rejects it)
//	<path>/floor/<part>   what the dependencies cost for the same work,
//	                      replayed from what one naq call recorded
//	                      (benchutil.Capture): the SDK span(s) with the same
//	                      name, kind, attributes, events and links (span,
//	                      span_unsampled); the same metric recordings with
//	                      precomputed attribute sets (metrics; metrics_sampled
//	                      with a sampled span in the context, so the SDK
//	                      offers exemplars as it does for naq); a W3C inject
//	                      into a reused header (inject) or an extract from
//	                      one (extract); two clock reads (clock); raw
//	                      nats.go sending a prebuilt header that carries a
//	                      traceparent (publish_traceparent,
//	                      request_traceparent)
//	<path>/floor/seq_<v>  the sequence floor of variant v (sampled,
//	                      unsampled, metrics): the same dependency calls
//	                      for one whole call in one loop, in naq's order
//	                      (benchutil.Shape.SequenceFloor), which the parts
//	                      timed each in its own loop underestimate
//
// Core publishes run against the embedded nats-server and against
// benchutil.FakeServer, a discarding server, which leaves the server's own
// header parsing out of the client's cost. internal/cmd/benchratio turns the
// output into naq/raw and naq/floor ratios (make bench).
//
// This file uses only naq's public API and internal/benchutil, so make
// bench-diff can copy it onto an older commit and compare the same
// benchmarks in one run. Keep it that way: a case that needs API newer
// than bcc5f8b goes into its own file behind a hook (processJSCase), so
// the overlay still builds there.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/benchutil"
	"github.com/naq-io/naq/internal/natstest"
)

var truthData = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

const truthSubj = "bench.orders"

// processJSCase runs Process/jsmsg/* when bench_truth_legacy_test.go is
// compiled in (it sets the hook in init).
var processJSCase func(b *testing.B, p *benchutil.Providers, handle func(context.Context, *nats.Msg) error)

// truthHeader is the header a traced producer sends.
func truthHeader() nats.Header { return nats.Header{"traceparent": {benchutil.Traceparent}} }

// truthVariant is one way of configuring naq.
type truthVariant struct {
	name string
	opts func(p *benchutil.Providers) []instrument.Option
}

var (
	truthSampled = truthVariant{"sampled", func(p *benchutil.Providers) []instrument.Option {
		return []instrument.Option{instrument.WithTracerProvider(p.Sampled), instrument.WithMeterProvider(p.Meter),
			instrument.WithPropagators(benchutil.W3C)}
	}}
	truthUnsampled = truthVariant{"unsampled", func(p *benchutil.Providers) []instrument.Option {
		return []instrument.Option{instrument.WithTracerProvider(p.Unsampled), instrument.WithMeterProvider(p.Meter),
			instrument.WithPropagators(benchutil.W3C)}
	}}
	truthMetricsOnly = truthVariant{"metrics_only", func(p *benchutil.Providers) []instrument.Option {
		return []instrument.Option{instrument.WithTracerProvider(tracenoop.NewTracerProvider()),
			instrument.WithMeterProvider(p.Meter), instrument.WithPropagators(benchutil.W3C)}
	}}
	truthFiltered = truthVariant{"filtered", func(p *benchutil.Providers) []instrument.Option {
		return []instrument.Option{instrument.WithTracerProvider(p.Sampled), instrument.WithMeterProvider(p.Meter),
			instrument.WithPropagators(benchutil.W3C), instrument.WithFilter(func(string, string) bool { return false })}
	}}
)

// captureOpts are the options of a capture run (benchutil.Capture).
func captureOpts(tp trace.TracerProvider, mp metric.MeterProvider) []instrument.Option {
	return []instrument.Option{instrument.WithTracerProvider(tp), instrument.WithMeterProvider(mp),
		instrument.WithPropagators(benchutil.W3C)}
}

func truthConnect(b *testing.B, url string) *nats.Conn {
	b.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// truthLoop times fn with b.Loop, reporting process CPU time as well.
func truthLoop(b *testing.B, fn func() error) {
	b.ReportAllocs()
	n, cpu := 0, benchutil.ProcessCPU()
	for b.Loop() {
		n++
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	benchutil.ReportCPU(b, cpu, n)
}

// runFloors runs the floor sub-benchmarks prefix+"floor/"+part of shape
// sh. per is how many operations (messages) one replay of sh covers: span
// and metric floors then run once every per iterations, so their ns/op is
// per message like the path they belong to.
func runFloors(b *testing.B, prefix string, p *benchutil.Providers, sh benchutil.Shape, per int, parts ...string) {
	b.Helper()
	parent := benchutil.SampledContext()
	for _, part := range parts {
		var fn func()
		k := 1
		switch part {
		case "span":
			fn, k = sh.SpanFloor(p.Sampled, parent), per
		case "span_unsampled":
			fn, k = sh.SpanFloor(p.Unsampled, parent), per
		case "metrics":
			m, bg := sh.MetricFloor(b, p.Meter), context.Background()
			fn, k = func() { m(bg) }, per
		case "metrics_sampled":
			m := sh.MetricFloor(b, p.Meter)
			fn, k = func() { m(parent) }, per
		case "clock":
			fn = func() { _ = benchutil.Clock() }
		case "inject":
			fn = benchutil.InjectFloor(benchutil.W3C, parent, nats.Header{})
		case "extract":
			x := benchutil.ExtractFloor(benchutil.W3C, truthHeader())
			fn = func() { _ = x() }
		default:
			b.Fatalf("unknown floor %q", part)
		}
		b.Run(prefix+"floor/"+part, func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchutil.ProcessCPU()
			for i := 0; i < b.N; i += k {
				fn()
			}
			benchutil.ReportCPU(b, cpu, b.N)
		})
	}
}

// seqVariant is a sequence floor of one variant: the dependencies of a
// whole naq call of that variant in one loop (benchutil.Shape.SequenceFloor).
type seqVariant struct {
	name string // floor/seq_<name>
	seq  benchutil.Sequence
}

// seqVariants are the sequences of the variants sampled, unsampled and
// metrics_only: traced is the raw call of the first two, metricsOnly the
// third's. A non-nil hdr is the
// reused header the span's context is injected into (the traced variants
// only); extract, when set, is the delivered message's header.
func seqVariants(p *benchutil.Providers, extract, hdr nats.Header, traced, metricsOnly func(ctx context.Context) error) []seqVariant {
	seq := func(tp trace.TracerProvider, call func(context.Context) error, inject nats.Header) benchutil.Sequence {
		return benchutil.Sequence{Tracer: tp, Meter: p.Meter, Prop: benchutil.W3C, Extract: extract, Inject: inject, Call: call}
	}
	return []seqVariant{
		{"sampled", seq(p.Sampled, traced, hdr)},
		{"unsampled", seq(p.Unsampled, traced, hdr)},
		{"metrics", seq(nil, metricsOnly, nil)},
	}
}

// runSequences runs prefix+"floor/seq_"+v.name for each variant of sh.
func runSequences(b *testing.B, prefix string, sh benchutil.Shape, vs ...seqVariant) {
	b.Helper()
	for _, v := range vs {
		fn := sh.SequenceFloor(b, v.seq)
		b.Run(prefix+"floor/seq_"+v.name, func(b *testing.B) { truthLoop(b, fn) })
	}
}

// BenchmarkPublish is core publish (Conn.Publish) against the embedded
// server and the discarding fake server.
func BenchmarkPublish(b *testing.B) {
	p := benchutil.NewProviders(b)
	fake := benchutil.StartFakeServer(b)
	servers := []struct{ name, url string }{
		{"embedded", natstest.RunServer(b).URL()},
		{"fake", fake.URL()},
	}
	capNC := truthConnect(b, fake.URL())
	sh := benchutil.CaptureCall(b, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		c := instrument.NewConn(capNC, captureOpts(tp, mp)...)
		return func() {
			if err := c.Publish(truthSubj, truthData); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, srv := range servers {
		nc := truthConnect(b, srv.url)
		run := func(name string, fn func() error) {
			b.Run(srv.name+"/"+name, func(b *testing.B) {
				truthLoop(b, fn)
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
			})
		}
		run("raw", func() error { return nc.Publish(truthSubj, truthData) })
		msg := &nats.Msg{Subject: truthSubj, Data: truthData, Header: truthHeader()}
		run("floor/publish_traceparent", func() error { return nc.PublishMsg(msg) })
		// What hand-written propagation costs: a new message and header per publish.
		run("handwritten", func() error {
			return nc.PublishMsg(&nats.Msg{Subject: truthSubj, Data: truthData, Header: truthHeader()})
		})
		for _, v := range []truthVariant{truthSampled, truthUnsampled, truthMetricsOnly, truthFiltered} {
			c := instrument.NewConn(nc, v.opts(p)...)
			run("naq/"+v.name, func() error { return c.Publish(truthSubj, truthData) })
		}
		hdr := nats.Header{}
		traced := &nats.Msg{Subject: truthSubj, Data: truthData, Header: hdr}
		for _, v := range seqVariants(p, nil, hdr,
			func(context.Context) error { return nc.PublishMsg(traced) },
			func(context.Context) error { return nc.Publish(truthSubj, truthData) }) {
			fn := sh.SequenceFloor(b, v.seq)
			run("floor/seq_"+v.name, fn)
		}
	}
	runFloors(b, "", p, sh, 1, "span", "span_unsampled", "metrics", "metrics_sampled", "clock", "inject")
}

// delivered counts messages handled by a benchmark's subscription and lets
// a producer keep a bounded number in flight.
type delivered struct {
	n      atomic.Int64
	target int64
	tick   chan struct{}
	done   chan struct{}
}

func newDelivered(target int) *delivered {
	return &delivered{target: int64(target), tick: make(chan struct{}, 1), done: make(chan struct{})}
}

func (d *delivered) add() {
	v := d.n.Add(1)
	if v%512 == 0 {
		select {
		case d.tick <- struct{}{}:
		default:
		}
	}
	if v == d.target {
		close(d.done)
	}
}

// waitWindow blocks while more than window of sent messages are still
// unhandled.
func (d *delivered) waitWindow(sent, window int64) {
	for sent-d.n.Load() > window {
		select {
		case <-d.tick:
		case <-d.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func (d *delivered) wait(b *testing.B) {
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		b.Fatalf("handled %d of %d messages", d.n.Load(), d.target)
	}
}

const (
	deliverChunk  = 1024
	deliverWindow = 16 * 1024
)

// BenchmarkProcess is the handler side of a delivered message: ProcessMsg
// on a prebuilt message that carries a traceparent (msg/...), ProcessJS on
// a delivered JetStream message that carries one (jsmsg/...), and end to
// end through a Subscribe callback, fed by a raw publisher through the
// embedded server or pushed by the fake server (ns/op is per message).
func BenchmarkProcess(b *testing.B) {
	p := benchutil.NewProviders(b)
	fake := benchutil.StartFakeServer(b)
	fnc := truthConnect(b, fake.URL())

	msg := &nats.Msg{Subject: truthSubj, Data: truthData, Header: truthHeader()}
	handle := func(context.Context, *nats.Msg) error { return nil }
	for _, v := range []truthVariant{truthSampled, truthUnsampled, truthMetricsOnly} {
		c := instrument.NewConn(fnc, v.opts(p)...)
		b.Run("msg/naq/"+v.name, func(b *testing.B) {
			truthLoop(b, func() error { return c.ProcessMsg(msg, handle) })
		})
	}
	sh := benchutil.CaptureCall(b, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		c := instrument.NewConn(fnc, captureOpts(tp, mp)...)
		return func() {
			if err := c.ProcessMsg(msg, handle); err != nil {
				b.Fatal(err)
			}
		}
	})
	runFloors(b, "msg/", p, sh, 1, "extract", "span", "span_unsampled", "metrics", "metrics_sampled", "clock")
	call := func(ctx context.Context) error { return handle(ctx, msg) }
	runSequences(b, "msg/", sh, seqVariants(p, truthHeader(), nil, call, call)...)

	// A delivered JetStream message through ProcessJS
	// (bench_truth_legacy_test.go; absent on commits before the legacy
	// JetStream wrappers, where bench-diff runs without it).
	if processJSCase != nil {
		processJSCase(b, p, handle)
	}

	// End to end through a subscription callback.
	type subscribeFunc func(subj string, cb nats.MsgHandler) (*nats.Subscription, error)
	embedded := natstest.RunServer(b)
	enc := truthConnect(b, embedded.URL())
	pub := truthConnect(b, embedded.URL())
	hdr := truthHeader()
	feeds := []struct {
		name string
		nc   *nats.Conn
		feed func(b *testing.B, d *delivered, n int)
	}{
		{"embedded", enc, func(b *testing.B, d *delivered, n int) {
			m := &nats.Msg{Subject: truthSubj, Data: truthData, Header: hdr}
			for sent := 0; sent < n; sent++ {
				if sent%deliverChunk == 0 {
					d.waitWindow(int64(sent), deliverWindow)
				}
				if err := pub.PublishMsg(m); err != nil {
					b.Error(err)
					return
				}
			}
			if err := pub.Flush(); err != nil {
				b.Error(err)
			}
		}},
		{"fake", fnc, func(b *testing.B, d *delivered, n int) {
			if err := fake.WaitSubscribed(truthSubj, 5*time.Second); err != nil {
				b.Error(err)
				return
			}
			for sent := 0; sent < n; sent += deliverChunk {
				d.waitWindow(int64(sent), deliverWindow)
				if _, err := fake.Deliver(truthSubj, hdr, truthData, min(deliverChunk, n-sent)); err != nil {
					b.Error(err)
					return
				}
			}
		}},
	}
	e2e := func(b *testing.B, nc *nats.Conn, subscribe subscribeFunc, feed func(*testing.B, *delivered, int)) {
		b.ReportAllocs()
		d := newDelivered(b.N)
		sub, err := subscribe(truthSubj, func(*nats.Msg) { d.add() })
		if err != nil {
			b.Fatal(err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			b.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		cpu := benchutil.ProcessCPU()
		feed(b, d, b.N)
		d.wait(b)
		benchutil.ReportCPU(b, cpu, b.N)
		b.StopTimer()
		if err := sub.Unsubscribe(); err != nil {
			b.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range feeds {
		b.Run(f.name+"/raw", func(b *testing.B) { e2e(b, f.nc, f.nc.Subscribe, f.feed) })
		for _, v := range []truthVariant{truthSampled, truthMetricsOnly} {
			c := instrument.NewConn(f.nc, v.opts(p)...)
			b.Run(f.name+"/naq/"+v.name, func(b *testing.B) { e2e(b, f.nc, c.Subscribe, f.feed) })
		}
	}
	sub := benchutil.CaptureCall(b, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		d := newDelivered(1)
		s, err := instrument.NewConn(fnc, captureOpts(tp, mp)...).Subscribe(truthSubj, func(*nats.Msg) { d.add() })
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Unsubscribe() })
		if err := fnc.Flush(); err != nil {
			b.Fatal(err)
		}
		return func() {
			feeds[1].feed(b, d, 1)
			d.wait(b)
		}
	})
	runFloors(b, "sub/", p, sub, 1, "span", "metrics", "metrics_sampled")
}

// BenchmarkRequest is core request-reply (Conn.Request) with a raw
// responder on another connection of the embedded server.
func BenchmarkRequest(b *testing.B) {
	p := benchutil.NewProviders(b)
	srv := natstest.RunServer(b)
	nc := truthConnect(b, srv.URL())
	resp := truthConnect(b, srv.URL())
	const subj = "bench.echo"
	if _, err := resp.Subscribe(subj, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		b.Fatal(err)
	}
	if err := resp.Flush(); err != nil {
		b.Fatal(err)
	}
	request := func(fn func() (*nats.Msg, error)) func() error {
		return func() error { _, err := fn(); return err }
	}
	b.Run("raw", func(b *testing.B) {
		truthLoop(b, request(func() (*nats.Msg, error) { return nc.Request(subj, truthData, 5*time.Second) }))
	})
	msg := &nats.Msg{Subject: subj, Data: truthData, Header: truthHeader()}
	b.Run("floor/request_traceparent", func(b *testing.B) {
		truthLoop(b, request(func() (*nats.Msg, error) { return nc.RequestMsg(msg, 5*time.Second) }))
	})
	for _, v := range []truthVariant{truthSampled, truthMetricsOnly} {
		c := instrument.NewConn(nc, v.opts(p)...)
		b.Run("naq/"+v.name, func(b *testing.B) {
			truthLoop(b, request(func() (*nats.Msg, error) { return c.Request(subj, truthData, 5*time.Second) }))
		})
	}
	sh := benchutil.CaptureCall(b, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		c := instrument.NewConn(nc, captureOpts(tp, mp)...)
		return func() {
			if _, err := c.Request(subj, truthData, 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	runFloors(b, "", p, sh, 1, "span", "metrics", "metrics_sampled", "clock", "inject")
	hdr := nats.Header{}
	traced := &nats.Msg{Subject: subj, Data: truthData, Header: hdr}
	vs := seqVariants(p, nil, hdr,
		func(context.Context) error { _, err := nc.RequestMsg(traced, 5*time.Second); return err },
		func(context.Context) error { _, err := nc.Request(subj, truthData, 5*time.Second); return err })
	runSequences(b, "", sh, vs[0], vs[2])
}

// truthJetStream starts an embedded server and returns a raw JetStream
// handle on it with a memory stream named stream on subjects prefix.>.
func truthJetStream(b *testing.B, stream, prefix string, maxMsgs int64) (*nats.Conn, jetstream.JetStream) {
	b.Helper()
	nc := truthConnect(b, natstest.RunServer(b).URL())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: stream, Subjects: []string{prefix + ".>"}, Storage: jetstream.MemoryStorage, MaxMsgs: maxMsgs,
	}); err != nil {
		b.Fatal(err)
	}
	return nc, js
}

// BenchmarkJSPublish is a synchronous JetStream publish (memory stream).
func BenchmarkJSPublish(b *testing.B) {
	p := benchutil.NewProviders(b)
	_, raw := truthJetStream(b, "BENCH", "bench", 10_000)
	ctx := context.Background()
	publish := func(js jetstream.JetStream) func() error {
		return func() error { _, err := js.Publish(ctx, truthSubj, truthData); return err }
	}
	b.Run("raw", func(b *testing.B) { truthLoop(b, publish(raw)) })
	msg := &nats.Msg{Subject: truthSubj, Data: truthData, Header: truthHeader()}
	b.Run("floor/publish_traceparent", func(b *testing.B) {
		truthLoop(b, func() error { _, err := raw.PublishMsg(ctx, msg); return err })
	})
	for _, v := range []truthVariant{truthSampled, truthMetricsOnly} {
		js := instrument.NewJetStream(raw, v.opts(p)...)
		b.Run("naq/"+v.name, func(b *testing.B) { truthLoop(b, publish(js)) })
	}
	sh := benchutil.CaptureCall(b, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		pub := publish(instrument.NewJetStream(raw, captureOpts(tp, mp)...))
		return func() {
			if err := pub(); err != nil {
				b.Fatal(err)
			}
		}
	})
	runFloors(b, "", p, sh, 1, "span", "metrics", "metrics_sampled", "clock", "inject")
	hdr := nats.Header{}
	traced := &nats.Msg{Subject: truthSubj, Data: truthData, Header: hdr}
	vs := seqVariants(p, nil, hdr,
		func(ctx context.Context) error { _, err := raw.PublishMsg(ctx, traced); return err },
		func(ctx context.Context) error { _, err := raw.Publish(ctx, truthSubj, truthData); return err })
	runSequences(b, "", sh, vs[0], vs[2])
}

// consumeSetup empties the stream, stores n messages carrying a
// traceparent and creates a fresh durable consumer (explicit acks) whose
// handle is opened through js (raw or instrumented).
func consumeSetup(b *testing.B, raw, js jetstream.JetStream, stream, prefix string, n int) jetstream.Consumer {
	b.Helper()
	ctx := context.Background()
	s, err := raw.Stream(ctx, stream)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		b.Fatal(err)
	}
	_ = raw.DeleteConsumer(ctx, stream, "bench")
	hdr := truthHeader()
	for i := 0; i < n; i++ {
		if _, err := raw.PublishMsgAsync(&nats.Msg{Subject: prefix + ".orders", Data: truthData, Header: hdr}); err != nil {
			b.Fatal(err)
		}
		if i%4096 == 4095 {
			<-raw.PublishAsyncComplete()
		}
	}
	select {
	case <-raw.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("prefill: acks did not arrive")
	}
	if _, err := raw.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20_000,
	}); err != nil {
		b.Fatal(err)
	}
	c, err := js.Consumer(ctx, stream, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkJSConsume is a pull consumer's Consume callback that acks every
// message (ns/op is per message, server delivery included).
func BenchmarkJSConsume(b *testing.B) {
	p := benchutil.NewProviders(b)
	_, raw := truthJetStream(b, "BCONS", "bcons", -1)
	// consume handles n messages; timed, it is the body of a b.N benchmark.
	consume := func(b *testing.B, js jetstream.JetStream, n int, timed bool) {
		c := consumeSetup(b, raw, js, "BCONS", "bcons", n)
		d := newDelivered(n)
		var cpu time.Duration
		if timed {
			b.ReportAllocs()
			b.ResetTimer()
			cpu = benchutil.ProcessCPU()
		}
		cc, err := c.Consume(func(m jetstream.Msg) {
			_ = m.Ack()
			d.add()
		})
		if err != nil {
			b.Fatal(err)
		}
		d.wait(b)
		if timed {
			benchutil.ReportCPU(b, cpu, n)
			b.StopTimer()
		}
		cc.Stop()
		<-cc.Closed()
	}
	b.Run("raw", func(b *testing.B) { consume(b, raw, b.N, true) })
	for _, v := range []truthVariant{truthSampled, truthMetricsOnly} {
		js := instrument.NewJetStream(raw, v.opts(p)...)
		b.Run("naq/"+v.name, func(b *testing.B) { consume(b, js, b.N, true) })
	}
	sh := benchutil.Capture(b, func(tp trace.TracerProvider, mp metric.MeterProvider) {
		consume(b, instrument.NewJetStream(raw, captureOpts(tp, mp)...), 1, false)
	})
	runFloors(b, "", p, sh, 1, "extract", "span", "metrics_sampled")
}

// fetchBatch is the batch size of BenchmarkJSFetch.
const fetchBatch = 100

// BenchmarkJSFetch is Fetch(100) in a loop, acking every message (ns/op is
// per message, server delivery included).
func BenchmarkJSFetch(b *testing.B) {
	p := benchutil.NewProviders(b)
	_, raw := truthJetStream(b, "BFETCH", "bfetch", -1)
	// fetch receives n messages; timed, it is the body of a b.N benchmark.
	fetch := func(b *testing.B, js jetstream.JetStream, n int, timed bool) {
		c := consumeSetup(b, raw, js, "BFETCH", "bfetch", n)
		var cpu time.Duration
		if timed {
			b.ReportAllocs()
			b.ResetTimer()
			cpu = benchutil.ProcessCPU()
		}
		for got := 0; got < n; {
			batch, err := c.Fetch(min(fetchBatch, n-got), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			for m := range batch.Messages() {
				_ = m.Ack()
				got++
			}
			if err := batch.Error(); err != nil {
				b.Fatal(err)
			}
		}
		if timed {
			benchutil.ReportCPU(b, cpu, n)
			b.StopTimer()
		}
	}
	b.Run("raw", func(b *testing.B) { fetch(b, raw, b.N, true) })
	for _, v := range []truthVariant{truthSampled, truthMetricsOnly} {
		js := instrument.NewJetStream(raw, v.opts(p)...)
		b.Run("naq/"+v.name, func(b *testing.B) { fetch(b, js, b.N, true) })
	}
	sh := benchutil.Capture(b, func(tp trace.TracerProvider, mp metric.MeterProvider) {
		fetch(b, instrument.NewJetStream(raw, captureOpts(tp, mp)...), fetchBatch, false)
	})
	runFloors(b, "", p, sh, fetchBatch, "extract", "span", "metrics_sampled")
}

// BenchmarkKV is KeyValue Put and Get (memory bucket).
func BenchmarkKV(b *testing.B) {
	p := benchutil.NewProviders(b)
	nc := truthConnect(b, natstest.RunServer(b).URL())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	raw, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench", Storage: jetstream.MemoryStorage})
	if err != nil {
		b.Fatal(err)
	}
	ops := []struct {
		name string
		fn   func(kv jetstream.KeyValue) func() error
	}{
		{"put", func(kv jetstream.KeyValue) func() error {
			return func() error { _, err := kv.Put(ctx, "key", truthData); return err }
		}},
		{"get", func(kv jetstream.KeyValue) func() error {
			return func() error { _, err := kv.Get(ctx, "key"); return err }
		}},
	}
	if _, err := raw.Put(ctx, "key", truthData); err != nil {
		b.Fatal(err)
	}
	for _, op := range ops {
		b.Run(op.name+"/raw", func(b *testing.B) { truthLoop(b, op.fn(raw)) })
		kv := instrument.NewKeyValue(raw, truthSampled.opts(p)...)
		b.Run(op.name+"/naq/sampled", func(b *testing.B) { truthLoop(b, op.fn(kv)) })
		sh := benchutil.CaptureCall(b, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
			call := op.fn(instrument.NewKeyValue(raw, captureOpts(tp, mp)...))
			return func() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
		runFloors(b, op.name+"/", p, sh, 1, "span", "metrics_sampled")
		call := op.fn(raw)
		vs := seqVariants(p, nil, nil, func(context.Context) error { return call() }, nil)
		runSequences(b, op.name+"/", sh, vs[0])
	}
}

// TestTruthShapes logs what each floor replays, so a reader of a benchmark
// run can check the floors match the instrumented calls (go test -run
// TestTruthShapes -v ./instrument).
func TestTruthShapes(t *testing.T) {
	fake := benchutil.StartFakeServer(t)
	nc, err := nats.Connect(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sh := benchutil.CaptureCall(t, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		c := instrument.NewConn(nc, captureOpts(tp, mp)...)
		return func() {
			if err := c.Publish(truthSubj, truthData); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(sh.Spans) != 1 || len(sh.Records) == 0 {
		t.Fatalf("publish shape: %s", sh)
	}
	t.Log("publish:", sh)
	msg := &nats.Msg{Subject: truthSubj, Data: truthData, Header: truthHeader()}
	sh = benchutil.CaptureCall(t, func(tp trace.TracerProvider, mp metric.MeterProvider) func() {
		c := instrument.NewConn(nc, captureOpts(tp, mp)...)
		return func() { _ = c.ProcessMsg(msg, func(context.Context, *nats.Msg) error { return nil }) }
	})
	if len(sh.Spans) != 1 || !sh.Spans[0].RemoteParent {
		t.Fatalf("process shape: %s", sh)
	}
	t.Log("process:", sh)
}
