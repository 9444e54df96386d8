package tracing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/time/rate"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
)

// FuzzHopEvent feeds arbitrary bytes to ParseHopEvent and to a collector's
// message handler. Seeds: the events captured from nats-server v2.15.2 in
// testdata/hops, and events captured afresh from a live embedded server
// when the fuzz target starts. Neither may panic; ParseHopEvent either
// returns a well-formed event or an error matching ErrMalformedHopEvent;
// the handler counts every event exactly once, and every span it makes
// is a child of the event's traceparent, ends no earlier than it starts and
// never names a reply inbox.
func FuzzHopEvent(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "hops", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captured events in testdata/hops: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, ev := range captureLiveEvents(f) {
		f.Add(ev)
	}
	f.Add([]byte(`{"server":{"name":"s"},"request":{"header":{"traceparent":["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]}},` +
		`"events":[{"type":"in","ts":"2026-01-02T03:04:05Z","subj":"_INBOX.x.y"},{"type":"eg","ts":"0001-01-01T00:00:01Z","sub":"_INBOX.>","error":"_INBOX.abc"}]}`))
	f.Add([]byte(`{"server":{"name":"s"},"events":[{"type":"in","ts":"2026-01-02T03:04:05Z"},{"type":"js"}]}`))
	f.Add([]byte(`{}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := parseHopEvent(data)
		if err != nil {
			if !errors.Is(err, errMalformedHopEvent) {
				t.Fatalf("error %v does not match ErrMalformedHopEvent", err)
			}
			if ev != nil {
				t.Fatalf("event %+v returned with error %v", ev, err)
			}
		} else {
			if ev.Server.Name == "" || len(ev.Hops) == 0 || ev.Hops[0].Type != hopTypeIngress {
				t.Fatalf("ParseHopEvent accepted a malformed event: %+v", ev)
			}
		}

		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		c := &HopCollector{
			tracer:  tp.Tracer(ScopeName),
			prop:    propagation.TraceContext{},
			namer:   LimitTemplates(nil, 4),
			streams: LimitTemplates(func(s string) string { return s }, 4),
			names:   newHopNames(semconv.StabilityMessagingDup), // both names: the longest attribute lists
			ratio:   1,
			limiter: rate.NewLimiter(rate.Inf, 0),
		}
		c.handle(&nats.Msg{Subject: "naq.trace.hops", Data: data})
		st := HopStats{
			Received: c.received.Load(), Collected: c.collected.Load(), Spans: c.spans.Load(),
			Malformed: c.malformed.Load(), NoParent: c.noParent.Load(), SampledOut: c.sampledOut.Load(),
			RateLimited: c.rateLimited.Load(), Truncated: c.truncated.Load(),
		}
		if st.Received != 1 || st.Collected+st.Malformed+st.NoParent+st.SampledOut+st.RateLimited != 1 {
			t.Fatalf("event not counted exactly once: %+v", st)
		}
		if (err != nil) != (st.Malformed == 1) {
			t.Fatalf("parse error %v but stats %+v", err, st)
		}
		spans := sr.Ended()
		if uint64(len(spans)) != st.Spans || len(spans) > MaxHopSpansPerEvent {
			t.Fatalf("%d spans, stats %+v", len(spans), st)
		}
		for _, s := range spans {
			if s.EndTime().Before(s.StartTime()) {
				t.Fatalf("span %q ends before it starts", s.Name())
			}
			if !s.Parent().IsValid() || !s.Parent().IsRemote() {
				t.Fatalf("span %q has no remote parent", s.Name())
			}
			if strings.Contains(s.Name(), "_INBOX.") || strings.Contains(s.Status().Description, "_INBOX.") {
				t.Fatalf("span %q (status %q) names a reply inbox", s.Name(), s.Status().Description)
			}
			for _, kv := range s.Attributes() {
				if strings.Contains(kv.Value.Emit(), "_INBOX.") {
					t.Fatalf("span %q attribute %s names a reply inbox", s.Name(), kv.Key)
				}
			}
		}
	})
}

// captureLiveEvents traces a JetStream publish (with a core subscriber on
// its subject), a queue-group publish and a request on an embedded
// nats-server and returns the trace events it sends.
func captureLiveEvents(tb testing.TB) [][]byte {
	tb.Helper()
	srv := natstest.RunServer(tb)
	nc, err := nats.Connect(srv.URL(), nats.Name("capture"))
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	events, err := nc.SubscribeSync("capture.hops")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CAPTURE", Subjects: []string{"capture.orders.>"}}); err != nil {
		tb.Fatal(err)
	}
	for _, subj := range []string{"capture.orders.>", "capture.core.*"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := nc.QueueSubscribeSync("capture.core.*", "workers"); err != nil {
		tb.Fatal(err)
	}
	if _, err := nc.Subscribe("capture.svc", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
		tb.Fatal(err)
	}
	traced := func(subj string) *nats.Msg {
		m := nats.NewMsg(subj)
		m.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		m.Header.Set(TraceDestHeader, "capture.hops")
		return m
	}
	if _, err := js.PublishMsg(ctx, traced("capture.orders.1")); err != nil {
		tb.Fatal(err)
	}
	if err := nc.PublishMsg(traced("capture.core.1")); err != nil {
		tb.Fatal(err)
	}
	if _, err := nc.RequestMsg(traced("capture.svc"), 5*time.Second); err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for range 3 {
		m, err := events.NextMsg(5 * time.Second)
		if err != nil {
			tb.Fatalf("captured %d of 3 trace events: %v", len(out), err)
		}
		out = append(out, m.Data)
	}
	return out
}
