package dashboards_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// collectorComponents are the component types the collector config may use:
// all part of the otel/opentelemetry-collector-contrib distribution the
// compose stack runs, under their current names (otlp_grpc and otlp_http
// replaced the deprecated otlp and otlphttp exporter names; the batch
// processor left the distributions in favour of the exporters' own batching).
var collectorComponents = map[string]map[string]bool{
	"receivers":  {"otlp": true},
	"processors": {"memory_limiter": true},
	"exporters":  {"otlp_grpc": true, "otlp_http": true, "debug": true},
	"extensions": {"health_check": true},
}

type collectorConfig struct {
	Receivers  map[string]map[string]any `yaml:"receivers"`
	Processors map[string]map[string]any `yaml:"processors"`
	Exporters  map[string]map[string]any `yaml:"exporters"`
	Extensions map[string]map[string]any `yaml:"extensions"`
	Connectors map[string]map[string]any `yaml:"connectors"`
	Service    struct {
		Extensions []string `yaml:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
		Telemetry struct {
			Metrics struct {
				Readers []struct {
					Pull struct {
						Exporter struct {
							Prometheus struct {
								Host string `yaml:"host"`
								Port int    `yaml:"port"`
							} `yaml:"prometheus"`
						} `yaml:"exporter"`
					} `yaml:"pull"`
				} `yaml:"readers"`
			} `yaml:"metrics"`
		} `yaml:"telemetry"`
	} `yaml:"service"`
}

// componentType is the type of a component id "type[/name]".
func componentType(id string) string {
	typ, _, _ := strings.Cut(id, "/")
	return typ
}

// TestCollectorConfig validates the OpenTelemetry Collector configuration of
// the compose stack without a collector binary: every component is of a
// known type of the distribution, every pipeline refers to defined
// components, every defined component is used, and the wiring matches the
// compose services: OTLP in on the ports the demo sends to, traces out to
// Jaeger, metrics out to Prometheus' OTLP receiver, the collector's own
// metrics where Prometheus scrapes them.
func TestCollectorConfig(t *testing.T) {
	var cfg collectorConfig
	readYAML(t, filepath.Join("otel-collector", "config.yaml"), &cfg)
	sections := map[string]map[string]map[string]any{
		"receivers": cfg.Receivers, "processors": cfg.Processors,
		"exporters": cfg.Exporters, "extensions": cfg.Extensions,
	}
	assert(t, len(cfg.Connectors) == 0, "connectors are not used by this stack: %v", cfg.Connectors)
	for sec, comps := range sections {
		for id := range comps {
			assert(t, collectorComponents[sec][componentType(id)], "%s: unknown or deprecated component type %q (known: %v)", sec, id, collectorComponents[sec])
		}
	}

	used := map[string]bool{}
	require.NotEmpty(t, cfg.Service.Pipelines, "service.pipelines")
	for name, p := range cfg.Service.Pipelines {
		signal := componentType(name)
		assert(t, signal == "traces" || signal == "metrics" || signal == "logs", "pipeline %q: unknown signal", name)
		assert(t, len(p.Receivers) > 0 && len(p.Exporters) > 0, "pipeline %q needs receivers and exporters", name)
		for _, ref := range []struct {
			sec string
			ids []string
		}{{"receivers", p.Receivers}, {"processors", p.Processors}, {"exporters", p.Exporters}} {
			for _, id := range ref.ids {
				_, ok := sections[ref.sec][id]
				assert(t, ok, "pipeline %q uses %s %q, which is not defined", name, ref.sec, id)
				used[ref.sec+"/"+id] = true
			}
		}
	}
	for _, id := range cfg.Service.Extensions {
		_, ok := cfg.Extensions[id]
		assert(t, ok, "service.extensions names %q, which is not defined", id)
		used["extensions/"+id] = true
	}
	for sec, comps := range sections {
		for id := range comps {
			assert(t, used[sec+"/"+id], "%s %q is defined but no pipeline uses it", sec, id)
		}
	}

	// Wiring.
	pipelines := cfg.Service.Pipelines
	require.Contains(t, pipelines, "traces")
	require.Contains(t, pipelines, "metrics")
	endpoint := func(id string) string {
		e, _ := cfg.Exporters[id]["endpoint"].(string)
		return e
	}
	var traceOut, metricOut []string
	for _, id := range pipelines["traces"].Exporters {
		traceOut = append(traceOut, componentType(id)+" "+endpoint(id))
	}
	for _, id := range pipelines["metrics"].Exporters {
		metricOut = append(metricOut, componentType(id)+" "+endpoint(id))
	}
	assert(t, contains(traceOut, "otlp_grpc jaeger:4317"), "traces must go to Jaeger's OTLP gRPC receiver: %v", traceOut)
	assert(t, contains(metricOut, "otlp_http http://prometheus:9090/api/v1/otlp"), "metrics must go to Prometheus' OTLP receiver: %v", metricOut)

	protocols, _ := cfg.Receivers["otlp"]["protocols"].(map[string]any)
	ep := func(proto string) string {
		m, _ := protocols[proto].(map[string]any)
		e, _ := m["endpoint"].(string)
		return e
	}
	assert(t, ep("grpc") == "0.0.0.0:4317" && ep("http") == "0.0.0.0:4318",
		"the otlp receiver must listen on 0.0.0.0:4317 (grpc) and 0.0.0.0:4318 (http), where compose publishes it: %v", protocols)

	readers := cfg.Service.Telemetry.Metrics.Readers
	require.Len(t, readers, 1, "service.telemetry.metrics.readers")
	port := readers[0].Pull.Exporter.Prometheus.Port
	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join("prometheus", "prometheus.yml"), &prom)
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	assert(t, contains(targets, fmt.Sprintf("otel-collector:%d", port)), "Prometheus must scrape the collector's own metrics on otel-collector:%d: %v", port, targets)
}

// TestNATSConfig starts an embedded nats-server from the compose stack's
// nats.conf (ports and store moved to the test's) and checks what the stack
// promises: a client without credentials lands in the APP account with
// JetStream, and message tracing is available both on request
// (Nats-Trace-Dest) and from a sampled traceparent header, whose hop events
// go to naq.trace.hops.
func TestNATSConfig(t *testing.T) {
	opts, err := natsserver.ProcessConfigFile(filepath.Join("nats", "nats.conf"))
	require.NoError(t, err)
	require.True(t, opts.JetStream, "nats.conf must enable JetStream")
	require.Equal(t, 8222, opts.HTTPPort, "monitoring on :8222 (compose healthcheck, published port)")
	require.Equal(t, "/data", opts.StoreDir, "JetStream store on the nats-data volume")
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, -1
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	s, err := natsserver.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second))

	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err, "a client without credentials must be accepted (no_auth_user)")
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := t.Context()
	_, err = js.AccountInfo(ctx)
	require.NoError(t, err, "JetStream must be enabled for the no-credentials user's account")

	hops, err := nc.SubscribeSync("naq.trace.hops")
	require.NoError(t, err)
	asked, err := nc.SubscribeSync("test.trace.asked")
	require.NoError(t, err)
	app, err := nc.SubscribeSync("demo.orders.*")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	// A sampled traceparent (as naq injects on publish) is traced to the
	// account's destination.
	m := nats.NewMsg("demo.orders.1")
	m.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	require.NoError(t, nc.PublishMsg(m))
	// Nats-Trace-Dest asks for a trace to a subject of the caller's choice.
	m = nats.NewMsg("demo.orders.2")
	m.Header.Set("Nats-Trace-Dest", "test.trace.asked")
	require.NoError(t, nc.PublishMsg(m))
	require.NoError(t, nc.Flush())

	for _, sub := range []*nats.Subscription{app, app} {
		_, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err, "the traced messages are still delivered")
	}
	for name, sub := range map[string]*nats.Subscription{"traceparent -> naq.trace.hops": hops, "Nats-Trace-Dest": asked} {
		ev, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err, "%s: no trace event", name)
		var body struct {
			Request struct {
				Header map[string][]string `json:"header"`
			} `json:"request"`
			Events []struct {
				Type string `json:"type"`
			} `json:"events"`
		}
		require.NoError(t, json.Unmarshal(ev.Data, &body), "%s: %s", name, ev.Data)
		var types []string
		for _, e := range body.Events {
			types = append(types, e.Type)
		}
		sort.Strings(types)
		assert(t, contains(types, "in") && contains(types, "eg"), "%s: want ingress and egress hop events, got %v in %s", name, types, ev.Data)
	}

	// An unsampled traceparent is not traced.
	m = nats.NewMsg("demo.orders.3")
	m.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	require.NoError(t, nc.PublishMsg(m))
	require.NoError(t, nc.Flush())
	_, err = hops.NextMsg(300 * time.Millisecond)
	assert(t, err == nats.ErrTimeout, "an unsampled traceparent must not be traced: %v", err)
}

// TestTraceLinksDocumented: the variables the trace links depend on are
// explained by a text panel at the top of every dashboard, and the trace
// panels use them (not a fixed data source or the job).
func TestTraceLinksDocumented(t *testing.T) {
	for _, d := range loadDashboards(t) {
		name := filepath.Base(d.path)
		vars := map[string]map[string]any{}
		for _, v := range variablesOf(d.raw) {
			n, _ := v["name"].(string)
			vars[n] = v
		}
		assert(t, vars["traces"] != nil && vars["traces"]["type"] == "datasource" && vars["traces"]["query"] == "jaeger",
			"%s: needs a datasource variable \"traces\" of type jaeger", name)
		if ts := vars["trace_service"]; assert(t, ts != nil, "%s: needs the variable trace_service", name) {
			def, _ := ts["definition"].(string)
			assert(t, strings.Contains(def, `job=~"$job"`) && strings.HasSuffix(def, ", job)"),
				"%s: trace_service must default to the selected job: %q", name, def)
			assert(t, ts["allowCustomValue"] == true, "%s: trace_service must accept a typed service name", name)
		}

		var top map[string]any
		for _, p := range panelsOf(d.raw) {
			gp, _ := p["gridPos"].(map[string]any)
			if p["type"] == "text" && gp["y"] == 0.0 {
				top = p
			}
		}
		if !assert(t, top != nil, "%s: no text panel at the top documenting the trace links", name) {
			continue
		}
		opts, _ := top["options"].(map[string]any)
		content, _ := opts["content"].(string)
		for _, want := range []string{
			vars["traces"]["label"].(string), vars["trace_service"]["label"].(string), "$trace_service",
			"job", "service.name", "OTEL_SERVICE_NAME", "exemplarTraceIdDestinations", "Tempo",
		} {
			assert(t, strings.Contains(content, want), "%s: the trace-links text does not mention %q", name, want)
		}

		for _, p := range panelsOf(d.raw) {
			uid, typ := dsUID(p["datasource"])
			if typ != "jaeger" {
				continue
			}
			assert(t, uid == "${traces}", "%s panel %v: Jaeger panels must use the ${traces} data source, got %q", name, p["title"], uid)
			for _, tg := range p["targets"].([]any) {
				svc, _ := tg.(map[string]any)["service"].(string)
				assert(t, svc == "$trace_service", "%s panel %v: search service %q, want $trace_service", name, p["title"], svc)
			}
		}
	}
}
