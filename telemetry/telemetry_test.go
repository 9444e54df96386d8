package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clearOTelEnv makes a test independent of the caller's OTEL_* environment.
func clearOTelEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
		"OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_METRIC_EXPORT_INTERVAL",
		"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
	} {
		t.Setenv(k, "")
	}
}

func setup(t *testing.T, opts ...telemetry.Option) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	})
	return tel
}

func scrape(t *testing.T, h http.Handler) map[string]*metricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	out := make(map[string]*metricFamily, len(fams))
	for name, f := range fams {
		out[name] = &metricFamily{typ: f.GetType().String(), n: len(f.GetMetric())}
	}
	return out
}

type metricFamily struct {
	typ string
	n   int
}

// TestPrometheusNames records every instrument of the names table the way
// the library creates them (scope, unit, kind) and checks that the
// Prometheus output carries exactly the names DESIGN.md promises.
func TestPrometheusNames(t *testing.T) {
	clearOTelEnv(t)
	tel := setup(t)
	ctx := context.Background()
	mp := tel.MeterProvider()

	// Every instrument of the names table, created with the kind, unit and
	// scope the library uses (internal/meters' meter).
	m := meters.Meter(mp)
	attrs := metric.WithAttributes(semconv.System, semconv.MessagingOperationNameKey.String(semconv.OpPublish))
	for _, name := range []string{semconv.MetricOperationDuration, semconv.MetricProcessDuration, semconv.MetricConnectDuration} {
		h, err := m.Float64Histogram(name, metric.WithUnit(semconv.UnitSeconds),
			metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
		require.NoError(t, err)
		h.Record(ctx, 0.0002, attrs)
	}
	for _, c := range []struct{ name, unit string }{
		{semconv.MetricSentMessages, semconv.UnitMessage},
		{semconv.MetricConsumedMessages, semconv.UnitMessage},
		{semconv.MetricConnectionsOpened, semconv.UnitConnection},
		{semconv.MetricConnectionsFailed, semconv.UnitConnection},
		{semconv.MetricReconnects, semconv.UnitEvent},
		{semconv.MetricDisconnects, semconv.UnitEvent},
		{semconv.MetricSentBytes, semconv.UnitBytes},
		{semconv.MetricReceivedBytes, semconv.UnitBytes},
		{semconv.MetricSubDropped, semconv.UnitMessage},
		{semconv.MetricCircuitTransition, semconv.UnitEvent},
		{semconv.MetricCircuitRejected, semconv.UnitCall},
	} {
		ctr, err := m.Int64Counter(c.name, metric.WithUnit(c.unit))
		require.NoError(t, err)
		ctr.Add(ctx, 1, attrs)
	}
	ud, err := m.Int64UpDownCounter(semconv.MetricConnectionsActive, metric.WithUnit(semconv.UnitConnection))
	require.NoError(t, err)
	ud.Add(ctx, 1)
	gauge := func(name, unit string, v float64, kv ...attribute.KeyValue) {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit))
		require.NoError(t, err)
		_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveFloat64(g, v, metric.WithAttributes(kv...))
			return nil
		}, g)
		require.NoError(t, err)
	}
	gauge(semconv.MetricConnected, semconv.UnitDimless, 1)
	gauge(semconv.MetricRTT, semconv.UnitSeconds, 0.0001)
	gauge(semconv.MetricSubPending, semconv.UnitMessage, 3)
	gauge(semconv.MetricCircuitState, semconv.UnitDimless, 1, semconv.NATSCircuitStateKey.String("closed"))

	fams := scrape(t, tel.MetricsHandler())
	want := map[string]string{
		"messaging_client_operation_duration_seconds": "HISTOGRAM",
		"messaging_process_duration_seconds":          "HISTOGRAM",
		"messaging_client_sent_messages_total":        "COUNTER",
		"messaging_client_consumed_messages_total":    "COUNTER",
		"nats_client_connections_active":              "GAUGE",
		"nats_client_connections_opened_total":        "COUNTER",
		"nats_client_connections_failed_total":        "COUNTER",
		"nats_client_connect_duration_seconds":        "HISTOGRAM",
		"nats_client_reconnects_total":                "COUNTER",
		"nats_client_disconnects_total":               "COUNTER",
		"nats_client_connected":                       "GAUGE",
		"nats_client_rtt_seconds":                     "GAUGE",
		"nats_client_sent_bytes_total":                "COUNTER",
		"nats_client_received_bytes_total":            "COUNTER",
		"nats_client_subscription_pending":            "GAUGE",
		"nats_client_subscription_dropped_total":      "COUNTER",
		"nats_client_circuit_state":                   "GAUGE",
		"nats_client_circuit_transitions_total":       "COUNTER",
		"nats_client_circuit_rejected_total":          "COUNTER",
	}
	for name, typ := range want {
		f, ok := fams[name]
		if assert.Truef(t, ok, "metric %s missing; got %v", name, keys(fams)) {
			assert.Equal(t, typ, f.typ, name)
		}
	}
	assert.NotContains(t, fams, "nats_client_connected_ratio")
	assert.NotContains(t, fams, "nats_client_circuit_state_ratio")
}

// TestPrometheusBuckets checks the explicit loopback buckets reach /metrics.
func TestPrometheusBuckets(t *testing.T) {
	clearOTelEnv(t)
	tel := setup(t)
	h, err := meters.Meter(tel.MeterProvider()).Float64Histogram(semconv.MetricOperationDuration,
		metric.WithUnit(semconv.UnitSeconds), metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
	require.NoError(t, err)
	h.Record(context.Background(), 0.00007)

	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `messaging_client_operation_duration_seconds_bucket{`)
	assert.Contains(t, string(body), `le="5e-05"`)
	assert.Contains(t, string(body), `le="0.0001"`)
}

// TestOpenMetricsExemplars: a histogram value recorded inside a sampled
// span carries its trace id as an exemplar when Prometheus asks for
// OpenMetrics; the plain text format stays the default.
func TestOpenMetricsExemplars(t *testing.T) {
	clearOTelEnv(t)
	tel := setup(t, telemetry.WithSpanProcessor(tracetest.NewSpanRecorder()))
	h, err := meters.Meter(tel.MeterProvider()).Float64Histogram(semconv.MetricOperationDuration,
		metric.WithUnit(semconv.UnitSeconds), metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
	require.NoError(t, err)
	ctx, sp := tel.TracerProvider().Tracer("test").Start(context.Background(), "publish orders")
	h.Record(ctx, 0.0003)
	sp.End()

	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/openmetrics-text")
	assert.Contains(t, string(body), `trace_id="`+sp.SpanContext().TraceID().String()+`"`)
	assert.Contains(t, string(body), "messaging_client_operation_duration_seconds_bucket{")

	resp2, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp2.Body.Close()
	assert.Contains(t, resp2.Header.Get("Content-Type"), "text/plain")
}

// TestDimensionlessOtherScopes: only naq's own unit-"1" gauges lose the
// unit; other libraries keep the translator's default naming.
func TestDimensionlessOtherScopes(t *testing.T) {
	clearOTelEnv(t)
	tel := setup(t)
	g, err := tel.MeterProvider().Meter("example.com/other").Float64Gauge("cpu.usage", metric.WithUnit("1"))
	require.NoError(t, err)
	g.Record(context.Background(), 0.5)
	fams := scrape(t, tel.MetricsHandler())
	assert.Contains(t, fams, "cpu_usage_ratio")
}

func keys(m map[string]*metricFamily) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// otlpHTTP is a local OTLP/HTTP receiver that decodes the protobuf
// requests it gets.
type otlpHTTP struct {
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
	path []string
	ct   []string
}

func (o *otlpHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.reqs = append(o.reqs, req)
	o.path = append(o.path, r.URL.Path)
	o.ct = append(o.ct, r.Header.Get("Content-Type"))
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(resp)
}

// spans flattens the received requests into span name → resource
// service.name.
func spans(reqs []*coltracepb.ExportTraceServiceRequest) map[string]string {
	out := map[string]string{}
	for _, req := range reqs {
		for _, rs := range req.GetResourceSpans() {
			svc := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == string(semconv.ServiceNameKey) {
					svc = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					out[sp.GetName()] = svc
				}
			}
		}
	}
	return out
}

// TestOTLPHTTPExport proves spans leave the process: OTLP/HTTP is chosen by
// the environment, the endpoint comes from OTEL_EXPORTER_OTLP_ENDPOINT, the
// resource from OTEL_SERVICE_NAME, and Shutdown flushes the batch.
func TestOTLPHTTPExport(t *testing.T) {
	clearOTelEnv(t)
	recv := &otlpHTTP{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_SERVICE_NAME", "orders-svc")

	tel, err := telemetry.Setup(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "otlp/http/protobuf", tel.TracesExporter())
	_, sp := tel.TracerProvider().Tracer("test").Start(context.Background(), "publish orders.*")
	sp.End()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The batcher's delay is 5 s: only the flush in Shutdown sends it now.
	require.NoError(t, tel.Shutdown(ctx))

	recv.mu.Lock()
	defer recv.mu.Unlock()
	require.NotEmpty(t, recv.reqs, "no OTLP request received")
	assert.Equal(t, "/v1/traces", recv.path[0])
	assert.Equal(t, "application/x-protobuf", recv.ct[0])
	assert.Equal(t, map[string]string{"publish orders.*": "orders-svc"}, spans(recv.reqs))
	assert.ErrorIs(t, tel.Shutdown(ctx), telemetry.ErrShutdown)
}

type otlpGRPC struct {
	coltracepb.UnimplementedTraceServiceServer
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
}

func (o *otlpGRPC) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	o.mu.Lock()
	o.reqs = append(o.reqs, req)
	o.mu.Unlock()
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestOTLPGRPCExport: the traces-specific protocol variable selects gRPC
// over the general one, and the resource default service name applies.
func TestOTLPGRPCExport(t *testing.T) {
	clearOTelEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	recv := &otlpGRPC{}
	coltracepb.RegisterTraceServiceServer(gs, recv)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	defer func() { gs.Stop(); <-served }()

	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"+lis.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")

	tel, err := telemetry.Setup(context.Background(), telemetry.WithServiceName("naq-test"))
	require.NoError(t, err)
	assert.Equal(t, "otlp/grpc", tel.TracesExporter())
	_, sp := tel.TracerProvider().Tracer("test").Start(context.Background(), "kv.put status")
	sp.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tel.Shutdown(ctx))

	recv.mu.Lock()
	defer recv.mu.Unlock()
	assert.Equal(t, map[string]string{"kv.put status": "naq-test"}, spans(recv.reqs))
}

// TestOTLPSelection covers when OTLP is on, which transport, and errors.
func TestOTLPSelection(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		opts    []telemetry.Option
		want    string
		wantErr string
	}{
		{name: "nothing set", want: "none"},
		{name: "endpoint set", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, want: "otlp/http/protobuf"},
		{name: "traces endpoint grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: "otlp/grpc"},
		{name: "exporter none wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}, want: "none"},
		{name: "exporter otlp forces", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: "otlp/http/protobuf"},
		{name: "option forces", opts: []telemetry.Option{telemetry.WithOTLPEndpoint("http://127.0.0.1:1")}, want: "otlp/http/protobuf"},
		{name: "option disables", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, opts: []telemetry.Option{telemetry.WithoutOTLP()}, want: "none"},
		{name: "option protocol", opts: []telemetry.Option{telemetry.WithOTLP(), telemetry.WithOTLPProtocol("grpc")}, want: "otlp/grpc"},
		{name: "bad protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="http/json"`},
		{name: "bad exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: `OTEL_TRACES_EXPORTER="zipkin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tel, err := telemetry.Setup(context.Background(), tt.opts...)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, telemetry.ErrInvalidOption)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, tel.TracesExporter())
			// Nothing was recorded, so shutdown has nothing to send to the
			// unreachable endpoint.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, tel.Shutdown(ctx))
		})
	}
}

// TestSamplerFromEnv verifies the SDK reads OTEL_TRACES_SAMPLER(+_ARG) and
// that WithSampler overrides it.
func TestSamplerFromEnv(t *testing.T) {
	tests := []struct {
		name, sampler, arg string
		opts               []telemetry.Option
		sampled            bool
	}{
		{name: "default", sampled: true},
		{name: "always_off", sampler: "always_off", sampled: false},
		{name: "ratio zero", sampler: "traceidratio", arg: "0", sampled: false},
		{name: "ratio one", sampler: "traceidratio", arg: "1", sampled: true},
		{name: "option wins", sampler: "always_off", opts: []telemetry.Option{telemetry.WithSampler(sdktrace.AlwaysSample())}, sampled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tt.arg)
			rec := tracetest.NewSpanRecorder()
			tel := setup(t, append(tt.opts, telemetry.WithSpanProcessor(rec))...)
			_, sp := tel.TracerProvider().Tracer("test").Start(context.Background(), "connect")
			sp.End()
			assert.Equal(t, tt.sampled, sp.SpanContext().IsSampled())
			assert.Equal(t, tt.sampled, len(rec.Ended()) == 1)
		})
	}
}

// TestResourceFromEnv: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
// override options, which override the default.
func TestResourceFromEnv(t *testing.T) {
	clearOTelEnv(t)
	t.Run("default", func(t *testing.T) {
		tel := setup(t)
		v, ok := tel.Resource().Set().Value(semconv.ServiceNameKey)
		require.True(t, ok)
		assert.Equal(t, telemetry.DefaultServiceName, v.AsString())
	})
	t.Run("env wins", func(t *testing.T) {
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci,service.name=from-attrs")
		t.Setenv("OTEL_SERVICE_NAME", "from-env")
		tel := setup(t, telemetry.WithServiceName("from-option"), telemetry.WithServiceVersion("1.2.3"))
		set := tel.Resource().Set()
		v, _ := set.Value(semconv.ServiceNameKey)
		assert.Equal(t, "from-env", v.AsString())
		v, _ = set.Value("deployment.environment")
		assert.Equal(t, "ci", v.AsString())
		v, _ = set.Value(semconv.ServiceVersionKey)
		assert.Equal(t, "1.2.3", v.AsString())
	})
}

// TestNoTracesConfigured: without OTLP or a processor the tracer provider is
// a no-op, so spans cost nothing.
func TestNoTracesConfigured(t *testing.T) {
	clearOTelEnv(t)
	tel := setup(t)
	_, sp := tel.TracerProvider().Tracer("test").Start(context.Background(), "publish x")
	assert.False(t, sp.IsRecording())
	sp.End()
}

// TestExtraReader: a manual reader sees the same instruments as /metrics.
func TestExtraReader(t *testing.T) {
	clearOTelEnv(t)
	r := sdkmetric.NewManualReader()
	tel := setup(t, telemetry.WithMetricReader(r), telemetry.WithoutPrometheus())
	c, err := meters.Meter(tel.MeterProvider()).Int64Counter(semconv.MetricSentMessages)
	require.NoError(t, err)
	c.Add(context.Background(), 2)
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Equal(t, semconv.MetricSentMessages, rm.ScopeMetrics[0].Metrics[0].Name)

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestSpanSummary(t *testing.T) {
	clearOTelEnv(t)
	sum := telemetry.NewSpanSummary()
	tel := setup(t, telemetry.WithSpanProcessor(sum))
	tr := tel.TracerProvider().Tracer("test")
	for range 3 {
		_, sp := tr.Start(context.Background(), "publish orders.*")
		sp.End()
	}
	_, sp := tr.Start(context.Background(), "kv.get status")
	sp.SetStatus(codes.Error, "boom")
	sp.End()

	stats := sum.Stats()
	require.Len(t, stats, 2)
	assert.Equal(t, "publish orders.*", stats[0].Name)
	assert.Equal(t, int64(3), stats[0].Count)
	assert.Equal(t, int64(0), stats[0].Errors)
	assert.Equal(t, int64(1), stats[1].Errors)

	var b strings.Builder
	n, err := sum.WriteTo(&b)
	require.NoError(t, err)
	assert.Equal(t, int64(b.Len()), n)
	assert.Contains(t, b.String(), "spans: 4 in 2 names")
	assert.NotContains(t, b.String(), "boom", "the summary must not carry status messages")
}

// TestSpanPrinter: one line per span, with the ids to find the trace, the
// error.type of a failure and link/event counts, and nothing else of the
// span (no other attribute, no status description, no event content).
func TestSpanPrinter(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	pid, _ := trace.SpanIDFromHex("53995c3f42cd8ad8")
	end := time.Date(2026, 3, 1, 14, 3, 7, 412_000_000, time.Local)
	sc := func(id trace.SpanID) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: id, TraceFlags: trace.FlagsSampled})
	}
	tests := []struct {
		name string
		stub tracetest.SpanStub
		want string
	}{
		{
			name: "root producer",
			stub: tracetest.SpanStub{
				Name: "publish demo.orders.*", SpanKind: trace.SpanKindProducer, SpanContext: sc(sid),
				StartTime: end.Add(-84 * time.Microsecond), EndTime: end,
				Attributes: []attribute.KeyValue{semconv.System, attribute.String("messaging.destination.name", "demo.orders.42")},
			},
			want: "14:03:07.412 publish demo.orders.* kind=producer duration=84µs status=unset trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 parent_id=-\n",
		},
		{
			name: "failed child with links and events",
			stub: tracetest.SpanStub{
				Name: "receive DEMO_EVENTS", SpanKind: trace.SpanKindClient, SpanContext: sc(sid), Parent: sc(pid),
				StartTime: end.Add(-1500 * time.Millisecond), EndTime: end,
				Status:     sdktrace.Status{Code: codes.Error, Description: "nats: timeout on demo.secret.subject"},
				Attributes: []attribute.KeyValue{semconv.ErrorTypeKey.String("timeout")},
				Links:      []sdktrace.Link{{SpanContext: sc(pid)}, {SpanContext: sc(pid)}},
				Events:     []sdktrace.Event{{Name: "exception", Attributes: []attribute.KeyValue{attribute.String("exception.message", "secret")}}},
			},
			want: "14:03:07.412 receive DEMO_EVENTS kind=client duration=1.50s status=error trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 parent_id=53995c3f42cd8ad8 error.type=timeout links=2 events=1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			p := telemetry.NewSpanPrinter(&b)
			p.OnEnd(tt.stub.Snapshot())
			assert.Equal(t, tt.want, b.String())
			assert.Equal(t, tt.want, telemetry.FormatSpan(tt.stub.Snapshot()))
			assert.NotContains(t, b.String(), "secret")
		})
	}

	t.Run("through Setup, concurrent", func(t *testing.T) {
		clearOTelEnv(t)
		var buf lockedBuilder
		tel := setup(t, telemetry.WithSpanProcessor(telemetry.NewSpanPrinter(&buf)))
		tr := tel.TracerProvider().Tracer("test")
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					_, sp := tr.Start(context.Background(), "kv.put status")
					sp.End()
				}
			})
		}
		wg.Wait()
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		require.Len(t, lines, 200)
		for _, l := range lines {
			assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d{3} kv\.put status kind=internal duration=\S+ status=unset trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16} parent_id=-$`, l)
		}
	})
	t.Run("nil writer", func(t *testing.T) {
		p := telemetry.NewSpanPrinter(nil)
		p.OnEnd(tests[0].stub.Snapshot())
	})
}

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
