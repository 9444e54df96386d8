package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/naq-io/naq/telemetry"
)

// collectorStub is an OTLP/HTTP endpoint taking both signals, like the
// compose stack's collector: it records metric names, units and the bounds
// of the histograms.
type collectorStub struct {
	mu      sync.Mutex
	units   map[string]string
	bounds  map[string][]float64
	nTraces int
}

func (c *collectorStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp proto.Message
	switch r.URL.Path {
	case "/v1/metrics":
		var req colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					c.units[m.GetName()] = m.GetUnit()
					if dps := m.GetHistogram().GetDataPoints(); len(dps) > 0 {
						c.bounds[m.GetName()] = dps[0].GetExplicitBounds()
					}
				}
			}
		}
		c.mu.Unlock()
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	case "/v1/traces":
		c.mu.Lock()
		c.nTraces++
		c.mu.Unlock()
		resp = &coltracepb.ExportTraceServiceResponse{}
	default:
		http.NotFound(w, r)
		return
	}
	b, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// TestDemoOTLPMetrics runs the demo with the compose stack's environment
// (traces and metrics by OTLP/HTTP to one collector endpoint, /metrics kept):
// it says where metrics go, and naq's metrics arrive with their OpenTelemetry
// names, the explicit duration buckets and no unit on the dimensionless
// gauge.
func TestDemoOTLPMetrics(t *testing.T) {
	t.Parallel()
	col := &collectorStub{units: map[string]string{}, bounds: map[string][]float64{}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	r := naq(t, 90*time.Second, cleanEnv(
		"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_METRICS_EXPORTER=prometheus,otlp",
		"OTEL_METRIC_EXPORT_INTERVAL=500",
		"OTEL_SERVICE_NAME=naq-demo",
	), "demo", "--duration", "3s", "--interval", "1s", "--metrics-addr", "127.0.0.1:0", "--rate", "20")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "metrics on http://")
	assert.Contains(t, r.stdout, "metrics also pushed by otlp/http/protobuf to "+srv.URL)

	col.mu.Lock()
	defer col.mu.Unlock()
	assert.Positive(t, col.nTraces, "no traces pushed")
	for _, name := range []string{
		"messaging.client.operation.duration", "messaging.process.duration",
		"messaging.client.sent.messages", "nats.client.connections.active",
		"nats.client.connect.duration", "nats.client.connected", "nats.client.rtt",
	} {
		assert.Containsf(t, col.units, name, "metric %s not pushed", name)
	}
	assert.Equal(t, telemetry.DurationBuckets(), col.bounds["messaging.client.operation.duration"])
	assert.Equal(t, "", col.units["nats.client.connected"], "the dimensionless gauge must carry no unit (else Prometheus names it _ratio)")
	assert.Equal(t, "s", col.units["messaging.client.operation.duration"])
}
