package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/telemetry"
)

// recordNaqMetrics creates naq's instruments on mp the way the library does
// (meters.NewMessaging, meters.NewConnection, a circuit-scope state gauge)
// and records one value in each synchronous one; the observable gauges
// report 1.
func recordNaqMetrics(t *testing.T, mp metric.MeterProvider) {
	t.Helper()
	ctx := context.Background()
	attrs := metric.WithAttributes(semconv.System, semconv.MessagingOperationNameKey.String(semconv.OpPublish))
	msg := meters.NewMessaging(mp)
	msg.OperationDuration.Record(ctx, 0.00007, attrs)
	msg.ProcessDuration.Record(ctx, 0.002, attrs)
	msg.SentMessages.Add(ctx, 1, attrs)
	msg.ConsumedMessages.Add(ctx, 1, attrs)
	conn := meters.NewConnection(mp)
	conn.Active.Add(ctx, 1)
	conn.Opened.Add(ctx, 1)
	conn.ConnectDuration.Record(ctx, 0.0004)
	_, err := meters.Meter(mp).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(conn.Connected, 1)
		o.ObserveFloat64(conn.RTT, 0.0001)
		return nil
	}, conn.Connected, conn.RTT)
	require.NoError(t, err)
	circ := mp.Meter(telemetry.ScopeName)
	g, err := circ.Int64ObservableGauge(semconv.MetricCircuitState, metric.WithUnit(semconv.UnitDimless))
	require.NoError(t, err)
	_, err = circ.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 1, metric.WithAttributes(semconv.NATSCircuitStateKey.String("closed")))
		return nil
	}, g)
	require.NoError(t, err)
}

// otlpMetricsHTTP is a local OTLP/HTTP metrics receiver.
type otlpMetricsHTTP struct {
	mu   sync.Mutex
	reqs []*colmetricpb.ExportMetricsServiceRequest
	path []string
}

func (o *otlpMetricsHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := &colmetricpb.ExportMetricsServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.reqs = append(o.reqs, req)
	o.path = append(o.path, r.URL.Path)
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	resp, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	_, _ = w.Write(resp)
}

// otlpMetric is what a test checks of one received metric.
type otlpMetric struct {
	unit    string
	kind    string
	bounds  []float64
	service string
}

// receivedMetrics flattens OTLP requests into metric name → what arrived
// (the last data point's bounds for histograms).
func receivedMetrics(reqs []*colmetricpb.ExportMetricsServiceRequest) map[string]otlpMetric {
	out := map[string]otlpMetric{}
	for _, req := range reqs {
		for _, rm := range req.GetResourceMetrics() {
			svc := ""
			for _, kv := range rm.GetResource().GetAttributes() {
				if kv.GetKey() == string(semconv.ServiceNameKey) {
					svc = kv.GetValue().GetStringValue()
				}
			}
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					got := otlpMetric{unit: m.GetUnit(), service: svc}
					switch d := m.GetData().(type) {
					case *metricpb.Metric_Histogram:
						got.kind = "histogram"
						if dps := d.Histogram.GetDataPoints(); len(dps) > 0 {
							got.bounds = dps[len(dps)-1].GetExplicitBounds()
						}
					case *metricpb.Metric_ExponentialHistogram:
						got.kind = "exponential_histogram"
					case *metricpb.Metric_Sum:
						got.kind = "sum"
					case *metricpb.Metric_Gauge:
						got.kind = "gauge"
					}
					out[m.GetName()] = got
				}
			}
		}
	}
	return out
}

// TestOTLPMetricsHTTPExport: OTEL_METRICS_EXPORTER=prometheus,otlp pushes
// naq's metrics to the OTLP endpoint of OTEL_EXPORTER_OTLP_ENDPOINT next to
// /metrics, with the explicit duration buckets (even when the exporter is
// told to prefer exponential histograms) and no unit on the dimensionless
// gauges.
func TestOTLPMetricsHTTPExport(t *testing.T) {
	clearOTelEnv(t)
	recv := &otlpMetricsHTTP{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus,otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram")
	t.Setenv("OTEL_SERVICE_NAME", "orders-svc")

	tel, err := telemetry.Setup(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"prometheus", "otlp/http/protobuf"}, tel.MetricsExporters())
	assert.Equal(t, "otlp/http/protobuf", tel.TracesExporter(), "the general endpoint still turns traces on")
	recordNaqMetrics(t, tel.MeterProvider())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The periodic reader pushes every 60 s: only the flush in Shutdown
	// sends it now.
	require.NoError(t, tel.Shutdown(ctx))

	recv.mu.Lock()
	defer recv.mu.Unlock()
	require.NotEmpty(t, recv.reqs, "no OTLP metrics request received")
	assert.Equal(t, "/v1/metrics", recv.path[0])
	got := receivedMetrics(recv.reqs)
	for _, name := range []string{semconv.MetricOperationDuration, semconv.MetricProcessDuration, semconv.MetricConnectDuration} {
		if assert.Contains(t, got, name) {
			assert.Equal(t, "histogram", got[name].kind, name)
			assert.Equal(t, semconv.UnitSeconds, got[name].unit, name)
			assert.Equal(t, telemetry.DurationBuckets(), got[name].bounds, name)
			assert.Equal(t, "orders-svc", got[name].service, name)
		}
	}
	for name, want := range map[string]otlpMetric{
		semconv.MetricSentMessages:      {unit: semconv.UnitMessage, kind: "sum"},
		semconv.MetricConsumedMessages:  {unit: semconv.UnitMessage, kind: "sum"},
		semconv.MetricConnectionsActive: {unit: semconv.UnitConnection, kind: "sum"},
		semconv.MetricConnectionsOpened: {unit: semconv.UnitConnection, kind: "sum"},
		semconv.MetricConnected:         {unit: "", kind: "gauge"},
		semconv.MetricRTT:               {unit: semconv.UnitSeconds, kind: "gauge"},
		semconv.MetricCircuitState:      {unit: "", kind: "gauge"},
	} {
		if assert.Contains(t, got, name) {
			assert.Equal(t, want.unit, got[name].unit, name)
			assert.Equal(t, want.kind, got[name].kind, name)
		}
	}
}

type otlpMetricsGRPC struct {
	colmetricpb.UnimplementedMetricsServiceServer
	mu   sync.Mutex
	reqs []*colmetricpb.ExportMetricsServiceRequest
}

func (o *otlpMetricsGRPC) Export(_ context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	o.mu.Lock()
	o.reqs = append(o.reqs, req)
	o.mu.Unlock()
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// TestOTLPMetricsGRPCExport: the metrics-specific endpoint alone turns OTLP
// metric export on (traces stay off), and the metrics-specific protocol
// selects gRPC over the general one.
func TestOTLPMetricsGRPCExport(t *testing.T) {
	clearOTelEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	recv := &otlpMetricsGRPC{}
	colmetricpb.RegisterMetricsServiceServer(gs, recv)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	defer func() { gs.Stop(); <-served }()

	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://"+lis.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")

	tel, err := telemetry.Setup(context.Background(), telemetry.WithServiceName("naq-test"))
	require.NoError(t, err)
	assert.Equal(t, []string{"prometheus", "otlp/grpc"}, tel.MetricsExporters())
	assert.Equal(t, "none", tel.TracesExporter())
	recordNaqMetrics(t, tel.MeterProvider())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tel.Shutdown(ctx))

	recv.mu.Lock()
	defer recv.mu.Unlock()
	got := receivedMetrics(recv.reqs)
	require.Contains(t, got, semconv.MetricOperationDuration)
	assert.Equal(t, telemetry.DurationBuckets(), got[semconv.MetricOperationDuration].bounds)
	assert.Equal(t, "naq-test", got[semconv.MetricOperationDuration].service)
}

// TestMetricsExporterSelection covers which metric exporters run.
func TestMetricsExporterSelection(t *testing.T) {
	const ep = "http://127.0.0.1:1"
	tests := []struct {
		name    string
		env     map[string]string
		opts    []telemetry.Option
		want    []string
		wantErr string
	}{
		{name: "nothing set", want: []string{"prometheus"}},
		{name: "general endpoint is for traces", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep}, want: []string{"prometheus"}},
		{name: "metrics endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": ep}, want: []string{"prometheus", "otlp/http/protobuf"}},
		{name: "exporter otlp only", env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, want: []string{"otlp/http/protobuf"}},
		{name: "exporter list", env: map[string]string{"OTEL_METRICS_EXPORTER": " OTLP , prometheus"}, want: []string{"prometheus", "otlp/http/protobuf"}},
		{name: "exporter none", env: map[string]string{"OTEL_METRICS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": ep}, want: nil},
		{name: "exporter prometheus", env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": ep}, want: []string{"prometheus"}},
		{name: "general protocol", env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: []string{"otlp/grpc"}},
		{name: "option forces otlp", opts: []telemetry.Option{telemetry.WithOTLPMetrics()}, want: []string{"prometheus", "otlp/http/protobuf"}},
		{name: "option endpoint", opts: []telemetry.Option{telemetry.WithOTLPMetricsEndpoint(ep), telemetry.WithOTLPProtocol("grpc")}, want: []string{"prometheus", "otlp/grpc"}},
		{name: "option disables otlp", env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, opts: []telemetry.Option{telemetry.WithoutOTLPMetrics()}, want: nil},
		{name: "option keeps prometheus", env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, opts: []telemetry.Option{telemetry.WithPrometheus()}, want: []string{"prometheus", "otlp/http/protobuf"}},
		{name: "option disables prometheus", opts: []telemetry.Option{telemetry.WithoutPrometheus()}, want: nil},
		{name: "bad exporter", env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus,console"}, wantErr: `OTEL_METRICS_EXPORTER="prometheus,console"`},
		{name: "bad protocol", env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"}, wantErr: `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/json"`},
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
			assert.Equal(t, tt.want, tel.MetricsExporters())
			rec := httptest.NewRecorder()
			tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if len(tt.want) > 0 && tt.want[0] == "prometheus" {
				assert.Equal(t, http.StatusOK, rec.Code)
			} else {
				assert.Equal(t, http.StatusNotFound, rec.Code)
			}
			// Nothing was recorded; a gRPC shutdown push to the unreachable
			// endpoint would wait for its deadline, so keep it short.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_ = tel.Shutdown(ctx)
		})
	}
}

// streamShape is what the views decide about a stream.
type streamShape struct {
	Scope, Unit, Kind string
	Bounds            []float64
}

func shapes(rm metricdata.ResourceMetrics) map[string]streamShape {
	out := map[string]streamShape{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s := streamShape{Scope: sm.Scope.Name, Unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				s.Kind = "histogram"
				if len(d.DataPoints) > 0 {
					s.Bounds = d.DataPoints[0].Bounds
				}
			case metricdata.ExponentialHistogram[float64]:
				s.Kind = "exponential_histogram"
			case metricdata.Sum[int64]:
				s.Kind = "sum"
			case metricdata.Gauge[int64], metricdata.Gauge[float64]:
				s.Kind = "gauge"
			}
			out[m.Name] = s
		}
	}
	return out
}

// TestViewsMatchSetup: telemetry.Views on an application's own
// MeterProvider give naq's instruments the same names, units and buckets as
// telemetry.Setup — even when the application's reader prefers exponential
// histograms — and leave other scopes alone.
func TestViewsMatchSetup(t *testing.T) {
	clearOTelEnv(t)
	ctx := context.Background()

	setupReader := sdkmetric.NewManualReader()
	tel := setup(t, telemetry.WithMetricReader(setupReader), telemetry.WithoutPrometheus())
	recordNaqMetrics(t, tel.MeterProvider())
	var fromSetup metricdata.ResourceMetrics
	require.NoError(t, setupReader.Collect(ctx, &fromSetup))

	for _, tc := range []struct {
		name   string
		reader *sdkmetric.ManualReader
	}{
		{"default aggregation", sdkmetric.NewManualReader()},
		{"exponential histograms preferred", sdkmetric.NewManualReader(sdkmetric.WithAggregationSelector(func(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
			if k == sdkmetric.InstrumentKindHistogram {
				return sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
			}
			return sdkmetric.DefaultAggregationSelector(k)
		}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tc.reader), sdkmetric.WithView(telemetry.Views()...))
			defer func() { _ = mp.Shutdown(ctx) }()
			recordNaqMetrics(t, mp)
			other, err := mp.Meter("example.com/other").Float64Histogram("http.server.duration", metric.WithUnit("s"))
			require.NoError(t, err)
			other.Record(ctx, 0.1)
			var own metricdata.ResourceMetrics
			require.NoError(t, tc.reader.Collect(ctx, &own))

			got := shapes(own)
			require.Contains(t, got, "http.server.duration")
			otherShape := got["http.server.duration"]
			delete(got, "http.server.duration")
			want := shapes(fromSetup)
			assert.Equal(t, want, got)
			names := make([]string, 0, len(got))
			for n := range got {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Logf("same shape under Setup and Views: %v", names)
			assert.Equal(t, telemetry.DurationBuckets(), got[semconv.MetricOperationDuration].Bounds)
			assert.Equal(t, "", got[semconv.MetricConnected].Unit)
			assert.Equal(t, "", got[semconv.MetricCircuitState].Unit)
			// Another library's histogram keeps the reader's choice.
			assert.Equal(t, "s", otherShape.Unit)
			if tc.name == "exponential histograms preferred" {
				assert.Equal(t, "exponential_histogram", otherShape.Kind)
			} else {
				assert.NotEqual(t, telemetry.DurationBuckets(), otherShape.Bounds)
			}
		})
	}
}

// TestExistingPrometheusRegistry: naq's metrics registered into an
// application's own client_golang registry are served by the application's
// handler next to its own metrics, with the names of the names table — both
// through Setup (WithPrometheusRegisterer) and through an own MeterProvider
// (NewPrometheusReader + Views).
func TestExistingPrometheusRegistry(t *testing.T) {
	clearOTelEnv(t)
	newAppRegistry := func(t *testing.T) *prometheus.Registry {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "app_requests_total", Help: "The application's own counter."})
		reg.MustRegister(c)
		c.Inc()
		return reg
	}
	want := []string{
		"app_requests_total",
		"messaging_client_operation_duration_seconds",
		"messaging_client_sent_messages_total",
		"nats_client_connect_duration_seconds",
		"nats_client_connected",
		"nats_client_rtt_seconds",
		"nats_client_circuit_state",
	}
	check := func(t *testing.T, h http.Handler) {
		t.Helper()
		fams := scrape(t, h)
		for _, name := range want {
			assert.Containsf(t, fams, name, "got %v", keys(fams))
		}
		assert.NotContains(t, fams, "nats_client_connected_ratio")
	}

	t.Run("Setup", func(t *testing.T) {
		reg := newAppRegistry(t)
		tel := setup(t, telemetry.WithPrometheusRegisterer(reg))
		assert.Equal(t, []string{"prometheus"}, tel.MetricsExporters())
		recordNaqMetrics(t, tel.MeterProvider())
		check(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		// MetricsHandler serves the same registry.
		check(t, tel.MetricsHandler())
	})
	t.Run("Setup with env leaving Prometheus out", func(t *testing.T) {
		t.Setenv("OTEL_METRICS_EXPORTER", "none")
		reg := newAppRegistry(t)
		tel := setup(t, telemetry.WithPrometheusRegisterer(reg))
		recordNaqMetrics(t, tel.MeterProvider())
		check(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	})
	t.Run("own MeterProvider", func(t *testing.T) {
		reg := newAppRegistry(t)
		reader, err := telemetry.NewPrometheusReader(reg)
		require.NoError(t, err)
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(telemetry.Views()...))
		defer func() { _ = mp.Shutdown(context.Background()) }()
		recordNaqMetrics(t, mp)
		check(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	})
}
