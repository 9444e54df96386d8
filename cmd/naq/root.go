package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/naq-io/naq/scope"
)

// globalFlags are the connection flags every command takes.
type globalFlags struct {
	url     string
	config  string
	profile string
}

const rootLong = `naq observes and checks NATS clients built with naq.

Start with the demo: it runs an instrumented workload on an embedded NATS
server, prints a live summary and serves Prometheus metrics:

  naq demo

Connection settings come from, lowest to highest precedence: defaults, the
config file (--config or NAQ_CONFIG), its profile (--profile or NAQ_PROFILE),
NAQ_* environment variables (NAQ_NATS_URL, NAQ_CLIENT_NAME, ...; NATS_URL as
a fallback for the servers), then --url.

Traces are exported by OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
(OTEL_EXPORTER_OTLP_PROTOCOL: grpc or http/protobuf); OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES and OTEL_TRACES_SAMPLER are honoured.

Exit codes:
  0  success
  1  failure: unhealthy, not ready in time, operations failed
  2  usage or configuration error`

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "naq",
		Short:         "Observe and check NATS clients: demo, health, wait, perf, config check",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.url, "url", "", "NATS server URL(s), comma-separated (overrides NAQ_NATS_URL and the config file)")
	pf.StringVar(&g.config, "config", "", "YAML config file (default $NAQ_CONFIG)")
	pf.StringVar(&g.profile, "profile", "", "profile of the config file to apply (default $NAQ_PROFILE)")

	root.AddCommand(
		newDemoCmd(g),
		newHealthCmd(g),
		newWaitCmd(g),
		newPerfCmd(g),
		newConfigCmd(g),
	)
	return root
}

// loadOptions turns the global flags into scope options: file, profile,
// then --url as an explicit option (highest precedence).
func (g *globalFlags) loadOptions() []scope.Option {
	var opts []scope.Option
	if g.config != "" {
		opts = append(opts, scope.WithConfigFile(g.config))
	}
	if g.profile != "" {
		opts = append(opts, scope.WithProfile(g.profile))
	}
	if urls := splitURLs(g.url); len(urls) > 0 {
		opts = append(opts, scope.WithServers(urls...))
	}
	return opts
}

// load returns the effective configuration; a bad configuration is a usage
// error (exit 2).
func (g *globalFlags) load(extra ...scope.Option) (scope.Config, error) {
	cfg, err := scope.Load(append(g.loadOptions(), extra...)...)
	if err != nil {
		return cfg, usageErr(err)
	}
	return cfg, nil
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}
