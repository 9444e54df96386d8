package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver collects the spans of OTLP/HTTP protobuf export requests.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	svc   map[string]bool
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				o.svc[kv.GetValue().GetStringValue()] = true
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	o.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// TestDemoOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set, the demo's spans
// leave the process by OTLP/HTTP, with the documented names, and a consumer's
// process span continues the producer's trace.
func TestDemoOTLP(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{svc: map[string]bool{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()

	cmd := newDemoCmdline(t, cleanEnv(
		"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=500",
	), "--duration", "3s", "--interval", "1s", "--metrics-addr", "127.0.0.1:0", "--rate", "50")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("demo did not exit\nstdout:\n%s", out.String())
	}
	assert.Contains(t, out.String(), "traces: otlp/http/protobuf to "+srv.URL)

	recv.mu.Lock()
	defer recv.mu.Unlock()
	require.NotEmpty(t, recv.spans, "no spans exported")
	assert.Equal(t, map[string]bool{"naq-demo": true}, recv.svc)
	names := map[string]bool{}
	byID := map[string]*tracepb.Span{}
	for _, s := range recv.spans {
		names[s.GetName()] = true
		byID[string(s.GetSpanId())] = s
	}
	for _, want := range []string{
		"connect",
		"publish demo.orders.*", "process demo.orders.*",
		"request demo.price.quote", "process demo.price.quote",
		"publish demo.events.paid", "process DEMO_EVENTS", "receive DEMO_EVENTS", "ack DEMO_EVENTS",
		"kv.put demo_status", "kv.watch demo_status",
		// The embedded server's own hops (server tracing, collected from
		// naq.trace.hops).
		"ingress demo.orders.*", "egress demo.orders.*", "ingress demo.events.paid", "jetstream DEMO_EVENTS",
	} {
		assert.Truef(t, names[want], "span %q not exported; got %v", want, keysOf(names))
	}
	// One trace from producer to consumer: a process span whose parent is
	// a publish span.
	linked := false
	for _, s := range recv.spans {
		if s.GetName() != "process demo.orders.*" {
			continue
		}
		if p, ok := byID[string(s.GetParentSpanId())]; ok && p.GetName() == "publish demo.orders.*" &&
			bytes.Equal(p.GetTraceId(), s.GetTraceId()) {
			linked = true
			break
		}
	}
	assert.True(t, linked, "no process span is a child of its publish span")
	// The JetStream store is a hop of the publish's trace.
	stored := false
	for _, s := range recv.spans {
		if p, ok := byID[string(s.GetParentSpanId())]; ok && s.GetName() == "jetstream DEMO_EVENTS" &&
			(p.GetName() == "publish demo.events.paid" || p.GetName() == "publish demo.events.shipped") && bytes.Equal(p.GetTraceId(), s.GetTraceId()) &&
			s.GetKind() == tracepb.Span_SPAN_KIND_INTERNAL {
			stored = true
			break
		}
	}
	assert.True(t, stored, "no jetstream hop span is a child of its publish span")
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
