package tracing_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

// The events in testdata/hops were captured from nats-server v2.15.2 (the
// embedded server of this module): a single server (JetStream publish, core
// publish to a plain and a queue subscription, request), a 3-node cluster
// (an egress to a route, the next server's ingress from the route into a
// stream and to a subscriber) and an accounts config (subject mapping,
// stream export, service import). Each carries the traceparent below.
const (
	eventTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	eventSpanID  = "00f067aa0ba902b7"
	hopsSubject  = "naq.trace.hops"
)

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hops", name))
	require.NoError(t, err)
	return bytes.TrimSpace(b)
}

func TestParseHopEventRealEvents(t *testing.T) {
	for _, c := range []struct {
		file    string
		server  string
		cluster string
		types   []tracing.HopType
		check   func(t *testing.T, ev *tracing.HopEvent)
	}{
		{file: "jetstream-publish.json", server: "NDOO2OH34QZE4J4IIX5VARI6JSGSSX4FWDNOD2LCXGZUTLG4WVM5HZBS",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeJetStream},
			check: func(t *testing.T, ev *tracing.HopEvent) {
				assert.Equal(t, "orders.42", ev.Hops[0].Subject)
				assert.Equal(t, tracing.HopConnClient, ev.Hops[0].Kind)
				assert.Equal(t, "pub", ev.Hops[0].Name)
				assert.Equal(t, "$G", ev.Hops[0].Account)
				assert.Equal(t, "ORDERS", ev.Hops[1].Stream)
				assert.Equal(t, "orders.42", ev.Hops[1].StreamSubject)
				assert.Equal(t, 121, ev.Request.MsgSize)
				assert.Equal(t, "00-"+eventTraceID+"-"+eventSpanID+"-01", ev.Request.Header.Get("traceparent"))
			}},
		{file: "core-publish-queue.json", server: "NDOO2OH34QZE4J4IIX5VARI6JSGSSX4FWDNOD2LCXGZUTLG4WVM5HZBS",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeEgress, tracing.HopTypeEgress},
			check: func(t *testing.T, ev *tracing.HopEvent) {
				assert.Equal(t, "core.*", ev.Hops[1].Subscription)
				assert.Equal(t, "", ev.Hops[1].Queue)
				assert.Equal(t, "workers", ev.Hops[2].Queue)
			}},
		{file: "request.json", server: "NDOO2OH34QZE4J4IIX5VARI6JSGSSX4FWDNOD2LCXGZUTLG4WVM5HZBS",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeEgress}},
		{file: "cluster-egress-to-route.json", server: "naq-0", cluster: "naq-test",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeEgress},
			check: func(t *testing.T, ev *tracing.HopEvent) {
				assert.Equal(t, 1, ev.Forwards)
				assert.Equal(t, tracing.HopConnRouter, ev.Hops[1].Kind)
				assert.Equal(t, "naq-1", ev.Hops[1].Name)
				assert.Equal(t, "1", ev.Hops[1].HopID)
			}},
		{file: "cluster-ingress-from-route-jetstream.json", server: "naq-1", cluster: "naq-test",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeJetStream},
			check: func(t *testing.T, ev *tracing.HopEvent) {
				assert.Equal(t, tracing.HopConnRouter, ev.Hops[0].Kind)
				assert.Equal(t, "naq-0", ev.Hops[0].Name)
				assert.Equal(t, "1", ev.Request.Header.Get("Nats-Trace-Hop"))
			}},
		{file: "cluster-ingress-from-route-egress.json", server: "naq-2", cluster: "naq-test",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeEgress}},
		{file: "subject-mapping.json", server: "NAFX6GZ4AUSKTL2NFP47YWY52LDHFHIT5HH5X2K5KJPPBUQ4ZJMOIGR4",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeSubjectMapping, tracing.HopTypeEgress},
			check: func(t *testing.T, ev *tracing.HopEvent) { assert.Equal(t, "orders.created", ev.Hops[1].To) }},
		{file: "stream-export.json", server: "NAFX6GZ4AUSKTL2NFP47YWY52LDHFHIT5HH5X2K5KJPPBUQ4ZJMOIGR4",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeStreamExport, tracing.HopTypeEgress},
			check: func(t *testing.T, ev *tracing.HopEvent) {
				assert.Equal(t, "B", ev.Hops[1].Account)
				assert.Equal(t, "B.info.x", ev.Hops[1].To)
				assert.Equal(t, "info.>", ev.Hops[2].Subscription)
			}},
		{file: "service-import.json", server: "NAFX6GZ4AUSKTL2NFP47YWY52LDHFHIT5HH5X2K5KJPPBUQ4ZJMOIGR4",
			types: []tracing.HopType{tracing.HopTypeIngress, tracing.HopTypeServiceImport, tracing.HopTypeEgress},
			check: func(t *testing.T, ev *tracing.HopEvent) {
				assert.Equal(t, "price", ev.Hops[1].From)
				assert.Equal(t, "svc.price", ev.Hops[1].To)
				assert.Equal(t, "A", ev.Hops[1].Account)
			}},
	} {
		t.Run(c.file, func(t *testing.T) {
			ev, err := tracing.ParseHopEvent(readEvent(t, c.file))
			require.NoError(t, err)
			assert.Equal(t, c.server, ev.Server.Name)
			assert.Equal(t, c.cluster, ev.Server.Cluster)
			assert.Equal(t, "2.15.2", ev.Server.Version)
			var types []tracing.HopType
			for i, h := range ev.Hops {
				types = append(types, h.Type)
				assert.False(t, h.Timestamp.IsZero(), "hop %d timestamp", i)
				if i > 0 && h.Type != tracing.HopTypeJetStream {
					assert.False(t, h.Timestamp.Before(ev.Hops[i-1].Timestamp), "hop %d before hop %d", i, i-1)
				}
			}
			assert.Equal(t, c.types, types)
			if c.check != nil {
				c.check(t, ev)
			}
		})
	}
}

func TestParseHopEventMalformed(t *testing.T) {
	for name, data := range map[string]string{
		"empty":               ``,
		"not json":            `NATS/1.0`,
		"array":               `[1,2]`,
		"null":                `null`,
		"no server":           `{"events":[{"type":"in","ts":"2026-01-02T03:04:05Z"}]}`,
		"no hops":             `{"server":{"name":"s"},"events":[]}`,
		"first hop not in":    `{"server":{"name":"s"},"events":[{"type":"eg","ts":"2026-01-02T03:04:05Z"}]}`,
		"no timestamp":        `{"server":{"name":"s"},"events":[{"type":"in"}]}`,
		"bad timestamp":       `{"server":{"name":"s"},"events":[{"type":"in","ts":"yesterday"}]}`,
		"kind not a number":   `{"server":{"name":"s"},"events":[{"type":"in","ts":"2026-01-02T03:04:05Z","kind":"client"}]}`,
		"header not a map":    `{"server":{"name":"s"},"request":{"header":["traceparent"]},"events":[{"type":"in","ts":"2026-01-02T03:04:05Z"}]}`,
		"egress no timestamp": `{"server":{"name":"s"},"events":[{"type":"in","ts":"2026-01-02T03:04:05Z"},{"type":"eg"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			ev, err := tracing.ParseHopEvent([]byte(data))
			assert.Nil(t, ev)
			assert.ErrorIs(t, err, tracing.ErrMalformedHopEvent)
		})
	}
	// A hop of a type a newer server may add is kept, not an error.
	ev, err := tracing.ParseHopEvent([]byte(`{"server":{"name":"s"},"events":[{"type":"in","ts":"2026-01-02T03:04:05Z"},{"type":"zz"}]}`))
	require.NoError(t, err)
	assert.Equal(t, tracing.HopType("zz"), ev.Hops[1].Type)
}

// hopEnv is an embedded server, a connection and a recording tracer
// provider for collector tests.
type hopEnv struct {
	srv *natstest.Server
	nc  *nats.Conn
	sr  *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
}

func newHopEnv(t *testing.T) *hopEnv {
	t.Helper()
	srv := natstest.RunServer(t)
	nc, err := nats.Connect(srv.URL(), nats.Name("collector"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &hopEnv{srv: srv, nc: nc, sr: sr, tp: tp}
}

func (e *hopEnv) collector(t *testing.T, opts ...tracing.HopOption) *tracing.HopCollector {
	t.Helper()
	all := append([]tracing.HopOption{tracing.WithTracerProvider(e.tp), tracing.WithPropagators(w3c)}, opts...)
	c, err := tracing.NewHopCollector(t.Context(), e.nc, hopsSubject, all...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	require.NoError(t, e.nc.Flush())
	return c
}

// send publishes raw event data to the trace subject, as a server would.
func (e *hopEnv) send(t *testing.T, data []byte, h nats.Header) {
	t.Helper()
	require.NoError(t, e.nc.PublishMsg(&nats.Msg{Subject: hopsSubject, Data: data, Header: h}))
}

func waitStats(t *testing.T, c *tracing.HopCollector, ok func(tracing.HopStats) bool) tracing.HopStats {
	t.Helper()
	require.Eventually(t, func() bool { return ok(c.Stats()) }, 10*time.Second, 5*time.Millisecond,
		"collector stats never matched; last %+v", c.Stats())
	return c.Stats()
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]string {
	m := make(map[attribute.Key]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

// TestHopCollectorSpansFromRealEvents feeds each captured event through a
// collector and checks every span: name, parent, kind, timestamps (by hop
// index of the event: start, end) and attributes.
func TestHopCollectorSpansFromRealEvents(t *testing.T) {
	e := newHopEnv(t)
	c := e.collector(t)
	type want struct {
		name       string
		start, end int // hop indexes whose timestamps the span starts and ends at
		attrs      map[attribute.Key]string
	}
	const single = "NDOO2OH34QZE4J4IIX5VARI6JSGSSX4FWDNOD2LCXGZUTLG4WVM5HZBS"
	const accounts = "NAFX6GZ4AUSKTL2NFP47YWY52LDHFHIT5HH5X2K5KJPPBUQ4ZJMOIGR4"
	cases := []struct {
		file  string
		spans []want
	}{
		{"jetstream-publish.json", []want{
			{"ingress orders.*", 0, 0, map[attribute.Key]string{
				semconv.NATSServerNameKey: single, semconv.NATSHopTypeKey: "ingress",
				semconv.MessagingDestinationNameKey: "orders.*", semconv.MessagingDestinationTemplateKey: "orders.*",
				semconv.NATSHopConnKindKey: "client", semconv.NATSHopConnNameKey: "pub", semconv.NATSHopAccountKey: "$G",
				semconv.MessagingSystemKey: "nats"}},
			{"jetstream ORDERS", 0, 1, map[attribute.Key]string{
				semconv.NATSServerNameKey: single, semconv.NATSHopTypeKey: "jetstream", semconv.NATSStreamKey: "ORDERS",
				semconv.MessagingSystemKey: "nats"}},
		}},
		{"core-publish-queue.json", []want{
			{"ingress core.*", 0, 0, nil},
			{"egress core.*", 0, 1, map[attribute.Key]string{semconv.NATSHopConnKindKey: "client", semconv.NATSHopTypeKey: "egress",
				semconv.MessagingDestinationNameKey: "core.*"}},
			{"egress core.*", 1, 2, map[attribute.Key]string{semconv.MessagingConsumerGroupNameKey: "workers"}},
		}},
		{"request.json", []want{{"ingress svc.echo", 0, 0, nil}, {"egress svc.echo", 0, 1, nil}}},
		{"cluster-egress-to-route.json", []want{
			{"ingress orders.*", 0, 0, map[attribute.Key]string{semconv.NATSServerNameKey: "naq-0",
				semconv.NATSServerIDKey:      "NCGXVN653A4EIQ7ROMOBBS4NRM4IQDG2RBLS2WMEEMA7XBLI2AN7EA6I",
				semconv.NATSServerClusterKey: "naq-test"}},
			{"egress orders.*", 0, 1, map[attribute.Key]string{semconv.NATSServerNameKey: "naq-0",
				semconv.NATSHopConnKindKey: "router", semconv.NATSHopConnNameKey: "naq-1", semconv.NATSHopIDKey: "1"}},
		}},
		{"cluster-ingress-from-route-jetstream.json", []want{
			{"ingress orders.*", 0, 0, map[attribute.Key]string{semconv.NATSServerNameKey: "naq-1",
				semconv.NATSHopConnKindKey: "router", semconv.NATSHopConnNameKey: "naq-0", semconv.NATSHopIDKey: "1"}},
			{"jetstream ORDERS", 0, 1, map[attribute.Key]string{semconv.NATSServerNameKey: "naq-1"}},
		}},
		{"cluster-ingress-from-route-egress.json", []want{
			{"ingress core.*", 0, 0, map[attribute.Key]string{semconv.NATSServerNameKey: "naq-2", semconv.NATSHopConnNameKey: "naq-0"}},
			{"egress core.*", 0, 1, map[attribute.Key]string{semconv.NATSServerNameKey: "naq-2", semconv.NATSHopConnNameKey: "sub"}},
		}},
		{"subject-mapping.json", []want{
			{"ingress orders.new", 0, 0, map[attribute.Key]string{semconv.NATSServerNameKey: accounts, semconv.NATSHopAccountKey: "A"}},
			{"subject_mapping orders.created", 0, 1, map[attribute.Key]string{semconv.NATSHopTypeKey: "subject_mapping"}},
			{"egress orders.*", 1, 2, nil},
		}},
		{"stream-export.json", []want{
			{"ingress info.x", 0, 0, nil},
			{"stream_export B.info.x", 0, 1, map[attribute.Key]string{semconv.NATSHopAccountKey: "B"}},
			{"egress info.>", 1, 2, map[attribute.Key]string{semconv.NATSHopAccountKey: "B"}},
		}},
		{"service-import.json", []want{
			{"ingress price", 0, 0, map[attribute.Key]string{semconv.NATSHopAccountKey: "B"}},
			{"service_import svc.price", 0, 1, map[attribute.Key]string{semconv.NATSHopAccountKey: "A"}},
			{"egress svc.price", 1, 2, map[attribute.Key]string{semconv.NATSHopConnNameKey: "a"}},
		}},
	}
	total := 0
	for i, tc := range cases {
		data := readEvent(t, tc.file)
		ev, err := tracing.ParseHopEvent(data)
		require.NoError(t, err)
		before := len(e.sr.Ended())
		e.send(t, data, nil)
		total += len(tc.spans)
		waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == uint64(i+1) })
		got := e.sr.Ended()[before:]
		require.Len(t, got, len(tc.spans), tc.file)
		for j, w := range tc.spans {
			s := got[j]
			assert.Equal(t, w.name, s.Name(), "%s span %d", tc.file, j)
			assert.Equal(t, trace.SpanKindInternal, s.SpanKind(), w.name)
			assert.Equal(t, eventTraceID, s.SpanContext().TraceID().String(), w.name)
			assert.Equal(t, eventSpanID, s.Parent().SpanID().String(), "%s: parent is the publisher's span", w.name)
			assert.True(t, s.Parent().IsRemote(), w.name)
			assert.Equal(t, ev.Hops[w.start].Timestamp, s.StartTime(), "%s %s start", tc.file, w.name)
			assert.Equal(t, ev.Hops[w.end].Timestamp, s.EndTime(), "%s %s end", tc.file, w.name)
			assert.Equal(t, codes.Unset, s.Status().Code, w.name)
			got := attrMap(s.Attributes())
			for k, v := range w.attrs {
				assert.Equal(t, v, got[k], "%s %s attribute %s", tc.file, w.name, k)
			}
			assert.Equal(t, "nats", got[semconv.MessagingSystemKey])
		}
	}
	st := c.Stats()
	assert.Equal(t, tracing.HopStats{Received: uint64(len(cases)), Collected: uint64(len(cases)), Spans: uint64(total)}, st)
	assert.Zero(t, st.Dropped())
}

// TestHopCollectorEdgeCases: reply inboxes never named, server errors on the
// status, unknown hop types skipped, the per-event span cap, timestamps out
// of order clamped.
func TestHopCollectorEdgeCases(t *testing.T) {
	e := newHopEnv(t)
	c := e.collector(t)
	tp := `"traceparent":["00-` + eventTraceID + `-` + eventSpanID + `-01"]`
	ts := func(us int) string { return time.Date(2026, 1, 2, 3, 4, 5, us*1000, time.UTC).Format(time.RFC3339Nano) }

	// An egress to a reply inbox, a failed egress, an unknown hop type, and
	// a subject mapping timestamped before the ingress.
	ev := `{"server":{"name":"s1","id":"ID1"},"request":{"header":{` + tp + `}},"events":[` +
		`{"type":"in","ts":"` + ts(10) + `","kind":0,"name":"c","acc":"$G","subj":"_INBOX.abcdefghijklmnop.17"},` +
		`{"type":"sm","ts":"` + ts(5) + `","to":"svc.x"},` +
		`{"type":"future","ts":"` + ts(30) + `"},` +
		`{"type":"eg","ts":"` + ts(40) + `","kind":0,"name":"c","sub":"_INBOX.abcdefghijklmnop.*","error":"Not delivered because _INBOX.abcdefghijklmnop.17 is \"closed\""}]}`
	e.send(t, []byte(ev), nil)
	waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 1 })
	spans := e.sr.Ended()
	require.Len(t, spans, 3)
	assert.Equal(t, "ingress _INBOX", spans[0].Name())
	assert.Equal(t, "subject_mapping svc.x", spans[1].Name())
	assert.Equal(t, spans[1].StartTime(), spans[1].EndTime(), "a step stamped before the previous one starts at its own time")
	assert.Equal(t, "egress _INBOX", spans[2].Name())
	assert.Equal(t, codes.Error, spans[2].Status().Code)
	assert.Equal(t, `Not delivered because _INBOX is "closed"`, spans[2].Status().Description)
	assert.Equal(t, spans[0].StartTime(), spans[2].StartTime(), "egress starts at the latest earlier step (the ingress)")
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			assert.NotContains(t, kv.Value.Emit(), "abcdefghijklmnop", "%s %s leaks the inbox", s.Name(), kv.Key)
		}
	}

	// A fan-out beyond MaxHopSpansPerEvent.
	var b strings.Builder
	b.WriteString(`{"server":{"name":"s1"},"request":{"header":{` + tp + `}},"events":[{"type":"in","ts":"` + ts(1) + `","subj":"fan.out"}`)
	for i := range tracing.MaxHopSpansPerEvent + 10 {
		fmt.Fprintf(&b, `,{"type":"eg","ts":"%s","sub":"fan.out"}`, ts(2+i))
	}
	b.WriteString(`]}`)
	before := len(e.sr.Ended())
	e.send(t, []byte(b.String()), nil)
	st := waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 2 })
	assert.Len(t, e.sr.Ended()[before:], tracing.MaxHopSpansPerEvent)
	assert.Equal(t, uint64(11), st.Truncated, "ingress + 63 egresses become spans; 11 egresses do not")
	assert.Equal(t, uint64(3+tracing.MaxHopSpansPerEvent), st.Spans)
}

// TestHopCollectorDropsAndCounts: malformed events, events without a parent
// and sampled-out events are dropped and counted, never a panic.
func TestHopCollectorDropsAndCounts(t *testing.T) {
	e := newHopEnv(t)
	c := e.collector(t, tracing.WithHopRateLimit(1e6, 1e6))
	good := readEvent(t, "request.json")
	unsampled := bytes.Replace(good, []byte(eventSpanID+"-01"), []byte(eventSpanID+"-00"), 1)
	noParent := bytes.Replace(good, []byte(`"traceparent"`), []byte(`"x-other"`), 1)

	e.send(t, []byte("{not json"), nil)
	e.send(t, []byte(`{"server":{"name":"s"},"events":[]}`), nil)
	e.send(t, good, nats.Header{"Content-Encoding": {"br"}})
	e.send(t, []byte("not gzip"), nats.Header{"Content-Encoding": {"gzip"}})
	e.send(t, unsampled, nil)
	e.send(t, noParent, nil)
	st := waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 6 })
	assert.Equal(t, tracing.HopStats{Received: 6, Malformed: 4, NoParent: 2}, st)
	assert.Equal(t, uint64(6), st.Dropped())
	assert.Empty(t, e.sr.Ended())

	// Sampling by trace id: ratio 0 keeps nothing, and says so apart from
	// the drops.
	c0 := e.collector(t, tracing.WithHopSampling(0))
	e.send(t, good, nil)
	st0 := waitStats(t, c0, func(s tracing.HopStats) bool { return s.Received == 1 })
	assert.Equal(t, tracing.HopStats{Received: 1, SampledOut: 1}, st0)
	assert.Zero(t, st0.Dropped())
}

// TestHopCollectorRateLimit: the events-per-second cap drops, and counts,
// what exceeds the burst.
func TestHopCollectorRateLimit(t *testing.T) {
	e := newHopEnv(t)
	// A refill rate so low that no token comes back during the test: the
	// burst of 3 is all there is.
	c := e.collector(t, tracing.WithHopRateLimit(1e-9, 3))
	good := readEvent(t, "request.json")
	for range 10 {
		e.send(t, good, nil)
	}
	st := waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 10 })
	assert.Equal(t, tracing.HopStats{Received: 10, Collected: 3, Spans: 6, RateLimited: 7}, st)
	assert.Equal(t, uint64(7), st.Dropped())
	assert.Len(t, e.sr.Ended(), 6)
}

// TestHopCollectorCloseAndContext: Close and the end of the context both
// unsubscribe; nothing is collected afterwards (and goleak, in TestMain,
// checks that nothing is left running).
func TestHopCollectorCloseAndContext(t *testing.T) {
	e := newHopEnv(t)
	good := readEvent(t, "request.json")

	c, err := tracing.NewHopCollector(context.Background(), e.nc, hopsSubject,
		tracing.WithTracerProvider(e.tp), tracing.WithPropagators(w3c))
	require.NoError(t, err)
	e.send(t, good, nil)
	waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 1 })
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close twice")
	e.send(t, good, nil)
	require.NoError(t, e.nc.Flush())

	ctx, cancel := context.WithCancel(context.Background())
	byCtx, err := tracing.NewHopCollector(ctx, e.nc, hopsSubject,
		tracing.WithTracerProvider(e.tp), tracing.WithPropagators(w3c))
	require.NoError(t, err)
	require.NoError(t, e.nc.Flush())
	cancel()
	require.Eventually(t, func() bool { return e.nc.NumSubscriptions() == 0 }, 5*time.Second, 5*time.Millisecond,
		"the context's end unsubscribes")
	e.send(t, good, nil)
	require.NoError(t, e.nc.Flush())
	assert.Equal(t, tracing.HopStats{Received: 1, Collected: 1, Spans: 2}, c.Stats(), "nothing after Close")
	assert.Zero(t, byCtx.Stats().Received, "nothing after the context ended")
	assert.NoError(t, byCtx.Close())

	// A closed connection: Close still returns nil.
	nc2, err := nats.Connect(e.srv.URL())
	require.NoError(t, err)
	c2, err := tracing.NewHopCollector(context.Background(), nc2, hopsSubject)
	require.NoError(t, err)
	nc2.Close()
	assert.NoError(t, c2.Close())

	_, err = tracing.NewHopCollector(context.Background(), nil, hopsSubject)
	assert.Error(t, err)
	_, err = tracing.NewHopCollector(context.Background(), e.nc, "bad subject")
	assert.ErrorIs(t, err, nats.ErrBadSubject)
}

// TestHopCollectorLiveServer traces messages on a live server with
// Nats-Trace-Dest, plain and with compressed events (the server gzips or
// snappy-compresses an event when the traced message asks with
// Accept-Encoding), and checks that every fresh event parses and becomes
// spans: the format of the embedded nats-server has not drifted from the
// captured one.
func TestHopCollectorLiveServer(t *testing.T) {
	e := newHopEnv(t)
	c := e.collector(t)
	ctx := t.Context()
	js, err := jetstream.New(e.nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "LIVE", Subjects: []string{"live.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	sub, err := e.nc.SubscribeSync("live.*")
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, e.nc.Flush())

	tid := trace.TraceID{0x4b, 0xf9, 1}
	for i, enc := range []string{"", "gzip", "snappy"} {
		m := nats.NewMsg(fmt.Sprintf("live.%d", i))
		m.Data = []byte("payload-Qz7vKw9LmTxR4pNs")
		m.Header.Set("traceparent", fmt.Sprintf("00-%s-00f067aa0ba902b7-01", tid))
		m.Header.Set(tracing.TraceDestHeader, hopsSubject)
		if enc != "" {
			m.Header.Set("Accept-Encoding", enc)
		}
		_, err := js.PublishMsg(ctx, m)
		require.NoError(t, err, enc)
	}
	st := waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 3 })
	assert.Equal(t, uint64(3), st.Collected)
	assert.Zero(t, st.Dropped())
	names := map[string]int{}
	for _, s := range e.sr.Ended() {
		names[s.Name()]++
		assert.Equal(t, tid, s.SpanContext().TraceID())
		for _, kv := range s.Attributes() {
			assert.NotContains(t, kv.Value.Emit(), "Qz7vKw9LmTxR4pNs", "payload leaked")
		}
	}
	assert.Equal(t, map[string]int{"ingress live.*": 3, "jetstream LIVE": 3, "egress live.*": 3}, names)
}

// TestTraceIDRatio: deterministic, nested (what a lower ratio keeps a
// higher one keeps too) and close to the ratio over many ids.
func TestTraceIDRatio(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	kept := map[float64]int{}
	ratios := []float64{0, 0.1, 0.25, 0.5, 1}
	const n = 20000
	for range n {
		var id trace.TraceID
		for i := range id {
			id[i] = byte(r.UintN(256))
		}
		prev := true
		for i := len(ratios) - 1; i >= 0; i-- {
			k := tracing.TraceIDRatio(id, ratios[i])
			assert.Equal(t, k, tracing.TraceIDRatio(id, ratios[i]), "deterministic")
			if k {
				kept[ratios[i]]++
				assert.True(t, prev, "kept at %v but not at a higher ratio", ratios[i])
			}
			prev = k
		}
	}
	assert.Equal(t, 0, kept[0])
	assert.Equal(t, n, kept[1])
	for _, ratio := range []float64{0.1, 0.25, 0.5} {
		assert.InDelta(t, ratio, float64(kept[ratio])/n, 0.02, "ratio %v", ratio)
	}
	var zero trace.TraceID
	assert.False(t, tracing.TraceIDRatio(zero, -1))
	assert.True(t, tracing.TraceIDRatio(zero, 2))
}

// gzipped compresses b (for the gzip path of the decoder).
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestHopCollectorGzipFromClient(t *testing.T) {
	e := newHopEnv(t)
	c := e.collector(t)
	e.send(t, gzipped(t, readEvent(t, "request.json")), nats.Header{"Content-Encoding": {"gzip"}})
	st := waitStats(t, c, func(s tracing.HopStats) bool { return s.Received == 1 })
	assert.Equal(t, tracing.HopStats{Received: 1, Collected: 1, Spans: 2}, st)
}
