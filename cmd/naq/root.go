package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/naq-io/naq/scope"
)

// globalFlags are the connection flags every command takes.
type globalFlags struct {
	url     string
	config  string
	profile string
	// configArg: config is the argument of `naq config check FILE`.
	configArg bool
	// root holds the flags, to tell `--url=` from no --url.
	root *cobra.Command
	// envChecked: the NAQ_* variables naq does not read were reported.
	envChecked bool
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
	g.root = root
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

// given reports whether the flag was on the command line, even as --name=.
func (g *globalFlags) given(name string) bool {
	if g.root == nil {
		return false
	}
	f := g.root.PersistentFlags().Lookup(name)
	return f != nil && f.Changed
}

// checkEmpty rejects a connection flag given with an empty value: `--url=`
// (or an unset variable in `--url "$URL"`) must not quietly mean the
// default server.
func (g *globalFlags) checkEmpty() error {
	switch {
	case g.given("url") && len(splitURLs(g.url)) == 0:
		return &scope.ConfigError{Field: "nats.servers", Value: strconv.Quote(g.url), Source: "flag --url",
			Allowed:    "one or more server URLs, comma-separated, e.g. nats://localhost:4222",
			Suggestion: "leave out --url to use " + scope.EnvNATSURL + ", the config file or the default"}
	case strings.TrimSpace(g.config) == "" && (g.configArg || g.given("config")):
		src, hint := "flag --config", "leave out --config to use "+scope.EnvConfig
		if g.configArg {
			src, hint = "argument file", "leave out the argument to use --config or "+scope.EnvConfig
		}
		return &scope.ConfigError{Field: "config file", Value: strconv.Quote(g.config), Source: src,
			Allowed: "the path of a YAML config file", Suggestion: hint}
	case g.given("profile") && strings.TrimSpace(g.profile) == "":
		return &scope.ConfigError{Field: "profile", Value: strconv.Quote(g.profile), Source: "flag --profile",
			Allowed:    "the name of a profile under profiles: in the config file",
			Suggestion: "leave out --profile to use " + scope.EnvProfile}
	}
	return nil
}

// flagError names the flags behind the scope options the CLI passed, in
// the Source and Suggestion of a configuration error (scope names its Go
// options there).
func (g *globalFlags) flagError(err error) error {
	var ce *scope.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	var sources []string // the options the CLI passed for its flags
	if g.config != "" {
		src := "flag --config"
		if g.configArg {
			src = "argument file"
		}
		sources = append(sources, "option scope.WithConfigFile", src)
	}
	if g.profile != "" {
		sources = append(sources, "option scope.WithProfile", "flag --profile")
	}
	if len(splitURLs(g.url)) > 0 {
		sources = append(sources, "option scope.WithServers", "flag --url")
	}
	ce.Source = strings.NewReplacer(sources...).Replace(ce.Source)
	ce.Suggestion = strings.NewReplacer("scope.WithConfigFile", "--config", "scope.WithProfile", "--profile",
		"scope.WithServers", "--url").Replace(ce.Suggestion)
	return err
}

// loadOptions turns the global flags into scope options: file, profile,
// then --url as an explicit option (highest precedence).
func (g *globalFlags) loadOptions() []scope.LoadOption {
	var opts []scope.LoadOption
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

// load returns the effective configuration; a bad configuration, or a
// connection flag given empty, is a usage error (exit 2) whose message
// names the flag, variable or file line at fault.
func (g *globalFlags) load(extra ...scope.LoadOption) (scope.Config, error) {
	if err := g.checkEmpty(); err != nil {
		return scope.Config{}, usageErr(err)
	}
	g.warnUnknownEnv()
	cfg, err := scope.Load(append(g.loadOptions(), extra...)...)
	if err != nil {
		return cfg, usageErr(g.flagError(err))
	}
	return cfg, nil
}

// warnUnknownEnv prints one warning on stderr, once, for each NAQ_*
// variable naq does not read (a misspelt name would otherwise be ignored
// without a word), with the variable it most likely meant.
func (g *globalFlags) warnUnknownEnv() {
	if g.envChecked || g.root == nil {
		return
	}
	g.envChecked = true
	w := g.root.ErrOrStderr()
	for _, ce := range unknownEnv() {
		hint := ""
		if ce.Suggestion != "" {
			hint = "; " + ce.Suggestion
		}
		fmt.Fprintf(w, "naq: warning: %s is not a variable naq reads and is ignored%s\n", ce.Field, hint)
	}
}

// unknownEnv lists the NAQ_* variables of the environment that naq does not
// read (scope.CheckEnv), one error each.
func unknownEnv() []*scope.ConfigError {
	err := scope.CheckEnv(os.Environ())
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]*scope.ConfigError, 0, len(errs))
	for _, e := range errs {
		var ce *scope.ConfigError
		if errors.As(e, &ce) {
			out = append(out, ce)
		}
	}
	return out
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
