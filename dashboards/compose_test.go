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
	for _, s := range []string{"nats", "jaeger", "prometheus", "grafana", "demo"} {
		require.Contains(t, compose.Services, s)
	}
	nats := compose.Services["nats"]
	assert(t, contains(nats.Command, "-js") && contains(nats.Command, "-m"), "nats must run with JetStream (-js) and monitoring (-m): %v", nats.Command)
	assert(t, contains(nats.Ports, "8222:8222") && contains(nats.Ports, "4222:4222"), "nats ports: %v", nats.Ports)
	jaeger := compose.Services["jaeger"]
	for _, p := range []string{"16686:16686", "4317:4317", "4318:4318"} {
		assert(t, contains(jaeger.Ports, p), "jaeger must publish %s", p)
	}

	demo := compose.Services["demo"]
	assert(t, demo.Build["dockerfile"] == "Dockerfile", "demo must build from ./Dockerfile")
	assert(t, demo.Environment["NAQ_NATS_URL"] == "nats://nats:4222", "demo NAQ_NATS_URL: %q", demo.Environment["NAQ_NATS_URL"])
	assert(t, demo.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317", "demo OTEL_EXPORTER_OTLP_ENDPOINT: %q", demo.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
	assert(t, demo.Environment["OTEL_SERVICE_NAME"] != "", "demo needs OTEL_SERVICE_NAME")

	// Prometheus scrapes the demo on the port the Dockerfile serves, as a
	// job named like the demo's service (the dashboards' service variable).
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
	found := false
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if contains(st.Targets, "demo:9464") {
				found = true
				assert(t, sc.JobName == demo.Environment["OTEL_SERVICE_NAME"],
					"scrape job %q should equal the demo's OTEL_SERVICE_NAME %q so traces and metrics share the service name", sc.JobName, demo.Environment["OTEL_SERVICE_NAME"])
			}
		}
	}
	assert(t, found, "prometheus.yml does not scrape demo:9464")
	assert(t, contains(demo.Ports, "9464:9464"), "demo must publish 9464")
	promSvc := compose.Services["prometheus"]
	assert(t, contains(promSvc.Volumes, "./dashboards/prometheus:/etc/prometheus:ro"), "prometheus volumes: %v", promSvc.Volumes)
	assert(t, contains(promSvc.Command, "--config.file=/etc/prometheus/prometheus.yml"), "prometheus command: %v", promSvc.Command)

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
