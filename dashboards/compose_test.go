package dashboards_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestComposeConfig validates docker-compose.yaml with docker-compose itself
// (no engine needed) and checks that its wiring matches the rest of the
// stack: the Prometheus scrape target, the mounted provisioning and the
// demo's environment.
func TestComposeConfig(t *testing.T) {
	t.Run("docker-compose config", func(t *testing.T) {
		var bin string
		var args []string
		if p, err := exec.LookPath("docker-compose"); err == nil {
			bin = p
		} else if p, err := exec.LookPath("docker"); err == nil && exec.Command(p, "compose", "version").Run() == nil {
			bin, args = p, []string{"compose"}
		} else {
			bin = requireTool(t, "docker-compose")
		}
		args = append(args, "-f", "docker-compose.yaml", "config", "-q")
		runTool(t, repoPath(), bin, args...)
	})

	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       map[string]string `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, repoPath("docker-compose.yaml"), &compose)
	for _, s := range []string{"nats", "otel-collector", "jaeger", "prometheus", "grafana", "demo"} {
		require.Contains(t, compose.Services, s)
	}

	// What operators run today: no end-of-life image.
	images := map[string]*regexp.Regexp{
		"nats":           regexp.MustCompile(`^nats:2\.(1[1-9]|[2-9]\d)[.-]`), // 2.11+: message tracing
		"otel-collector": regexp.MustCompile(`^otel/opentelemetry-collector-contrib:0\.\d+\.\d+$`),
		"jaeger":         regexp.MustCompile(`^jaegertracing/jaeger:2\.\d+\.\d+$`), // v2, not the v1 all-in-one
		"prometheus":     regexp.MustCompile(`^prom/prometheus:v3\.\d+\.\d+$`),
		"grafana":        regexp.MustCompile(`^grafana/grafana:1[2-9]\.\d+\.\d+$`),
	}
	for svc, re := range images {
		assert(t, re.MatchString(compose.Services[svc].Image), "%s image %q, want %s", svc, compose.Services[svc].Image, re)
	}

	nats := compose.Services["nats"]
	assert(t, contains(nats.Command, "-c") && contains(nats.Command, "/etc/nats/nats.conf"), "nats must run from its config file: %v", nats.Command)
	assert(t, contains(nats.Volumes, "./dashboards/nats/nats.conf:/etc/nats/nats.conf:ro"), "nats volumes: %v", nats.Volumes)
	assert(t, contains(nats.Ports, "8222:8222") && contains(nats.Ports, "4222:4222"), "nats ports: %v", nats.Ports)
	jaeger := compose.Services["jaeger"]
	assert(t, contains(jaeger.Ports, "16686:16686"), "jaeger must publish its UI on 16686")

	// The collector takes OTLP on the published ports, with its config file.
	col := compose.Services["otel-collector"]
	assert(t, contains(col.Volumes, "./dashboards/otel-collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro"), "otel-collector volumes: %v", col.Volumes)
	assert(t, contains(col.Command, "--config=/etc/otelcol-contrib/config.yaml"), "otel-collector command: %v", col.Command)
	for _, p := range []string{"4317:4317", "4318:4318"} {
		assert(t, contains(col.Ports, p), "otel-collector must publish %s", p)
	}

	// The demo sends traces and metrics to the collector.
	demo := compose.Services["demo"]
	assert(t, demo.Build["dockerfile"] == "Dockerfile", "demo must build from ./Dockerfile")
	assert(t, demo.Environment["NAQ_NATS_URL"] == "nats://nats:4222", "demo NAQ_NATS_URL: %q", demo.Environment["NAQ_NATS_URL"])
	assert(t, demo.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", "demo OTEL_EXPORTER_OTLP_ENDPOINT: %q", demo.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
	assert(t, demo.Environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf", "the collector's :4318 is OTLP/HTTP: %q", demo.Environment["OTEL_EXPORTER_OTLP_PROTOCOL"])
	assert(t, strings.Contains(demo.Environment["OTEL_METRICS_EXPORTER"], "otlp"), "demo must push metrics by OTLP: OTEL_METRICS_EXPORTER=%q", demo.Environment["OTEL_METRICS_EXPORTER"])
	assert(t, demo.Environment["OTEL_SERVICE_NAME"] != "", "demo needs OTEL_SERVICE_NAME")
	assert(t, contains(demo.Ports, "9464:9464"), "demo must publish 9464")

	// Prometheus takes the pushed metrics on its OTLP receiver, loads the
	// alerts, and does not also scrape the demo (every series twice).
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join("prometheus", "prometheus.yml"), &prom)
	assert(t, contains(prom.RuleFiles, "alerts.yml"), "prometheus.yml must load alerts.yml")
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			assert(t, !contains(st.Targets, "demo:9464"), "prometheus.yml scrapes the demo, which also pushes by OTLP: every series would be counted twice")
		}
	}
	promSvc := compose.Services["prometheus"]
	assert(t, contains(promSvc.Volumes, "./dashboards/prometheus:/etc/prometheus:ro"), "prometheus volumes: %v", promSvc.Volumes)
	assert(t, contains(promSvc.Command, "--config.file=/etc/prometheus/prometheus.yml"), "prometheus command: %v", promSvc.Command)
	assert(t, contains(promSvc.Command, "--web.enable-otlp-receiver"), "prometheus must accept OTLP metrics: %v", promSvc.Command)

	// Grafana mounts the provisioning and the dashboards where the provider
	// looks for them, with anonymous viewers.
	graf := compose.Services["grafana"]
	assert(t, contains(graf.Volumes, "./dashboards/grafana/provisioning:/etc/grafana/provisioning:ro"), "grafana volumes: %v", graf.Volumes)
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "dashboards", "dashboards.yaml"), &provider)
	require.Len(t, provider.Providers, 1)
	assert(t, contains(graf.Volumes, "./dashboards/grafana/dashboards:"+provider.Providers[0].Options.Path+":ro"),
		"grafana must mount dashboards/grafana/dashboards at the provider path %s: %v", provider.Providers[0].Options.Path, graf.Volumes)
	assert(t, graf.Environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true" && graf.Environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer",
		"grafana must allow anonymous viewers")
	for uid, ds := range loadDatasources(t) {
		host := map[string]string{"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}[uid]
		assert(t, ds.URL == host, "datasource %s url %q, want %q", uid, ds.URL, host)
	}
}

// TestDockerfile checks the demo image: the Go version of go.mod, the
// ./cmd/naq build and the demo command the compose stack relies on.
func TestDockerfile(t *testing.T) {
	goMod, err := os.ReadFile(repoPath("go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	require.NotNil(t, m)
	f, err := os.Open(repoPath("Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	var from, build, cmd string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM golang:"):
			from = line
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build"):
			build = line
		case strings.HasPrefix(line, "CMD "):
			cmd = line
		}
	}
	require.NoError(t, sc.Err())
	assert(t, strings.HasPrefix(from, "FROM golang:"+string(m[1])), "build stage %q should use the go.mod Go version %s", from, m[1])
	assert(t, strings.Contains(build, "./cmd/naq"), "the image must build ./cmd/naq: %q", build)
	assert(t, cmd == `CMD ["naq", "demo", "--url", "nats://nats:4222", "--metrics-addr", "0.0.0.0:9464"]`, "CMD: %q", cmd)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
