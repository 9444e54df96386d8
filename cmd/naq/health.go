package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/naq-io/naq/scope"
)

// healthJSON is the --json form of a health or wait result.
type healthJSON struct {
	Healthy       bool    `json:"healthy"`
	URL           string  `json:"url,omitempty"`
	ServerID      string  `json:"server_id,omitempty"`
	ServerName    string  `json:"server_name,omitempty"`
	ServerVersion string  `json:"server_version,omitempty"`
	JetStream     bool    `json:"jetstream"`
	RTTSeconds    float64 `json:"rtt_seconds,omitempty"`
	Elapsed       float64 `json:"elapsed_seconds"`
	Error         string  `json:"error,omitempty"`
}

func newHealthCmd(g *globalFlags) *cobra.Command {
	var (
		timeout time.Duration
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check a NATS server once: server id, version, JetStream, RTT",
		Long: `Connect once (bounded by --timeout), measure the round trip, and report the
server id, name and version and whether JetStream is enabled.

Exit codes: 0 healthy; 1 unhealthy (the reason is printed on stderr);
2 usage or configuration error.`,
		Example: `  naq health --url nats://localhost:4222
  NAQ_NATS_URL=nats://nats:4222 naq health --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageErr(fmt.Errorf("health: --timeout=%v: must be positive", timeout))
			}
			if _, err := g.load(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			start := time.Now()
			rep, err := scope.Health(ctx, g.url, g.fileOptions()...)
			shutdownPool(cmd.Context())
			return reportHealth(cmd.OutOrStdout(), "healthy", "unhealthy", rep, time.Since(start), err, jsonOut)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON on stdout")
	return cmd
}

func newWaitCmd(g *globalFlags) *cobra.Command {
	var (
		timeout time.Duration
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until a NATS server is ready (for scripts and init containers)",
		Long: `Poll the server with backoff (50ms doubling up to 2s, with jitter) until a
health check passes or --timeout ends. Invalid configuration and rejected
credentials stop at once instead of polling.

Exit codes: 0 ready; 1 not ready in time (the last error is printed on
stderr); 2 usage or configuration error.`,
		Example: `  naq wait --url nats://nats:4222 --timeout 60s && ./start-app
  # Kubernetes init container:
  #   command: ["naq", "wait", "--timeout", "2m"]
  #   env: [{name: NAQ_NATS_URL, value: "nats://nats:4222"}]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageErr(fmt.Errorf("wait: --timeout=%v: must be positive", timeout))
			}
			if _, err := g.load(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			start := time.Now()
			rep, err := scope.WaitReady(ctx, g.url, g.fileOptions()...)
			shutdownPool(cmd.Context())
			return reportHealth(cmd.OutOrStdout(), "ready", "not ready", rep, time.Since(start), err, jsonOut)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON on stdout")
	return cmd
}

// fileOptions are the config file and profile options; --url is passed to
// scope as its url argument (which overrides file and environment).
func (g *globalFlags) fileOptions() []scope.Option {
	var opts []scope.Option
	if g.config != "" {
		opts = append(opts, scope.WithConfigFile(g.config))
	}
	if g.profile != "" {
		opts = append(opts, scope.WithProfile(g.profile))
	}
	return opts
}

// shutdownPool drains the default pool the health check used.
func shutdownPool(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = scope.Shutdown(ctx)
}

func reportHealth(w io.Writer, okWord, failWord string, rep scope.HealthReport, elapsed time.Duration, err error, jsonOut bool) error {
	if jsonOut {
		out := healthJSON{
			Healthy:       err == nil,
			URL:           rep.ConnectedURL,
			ServerID:      rep.ServerID,
			ServerName:    rep.ServerName,
			ServerVersion: rep.ServerVersion,
			JetStream:     rep.JetStream,
			RTTSeconds:    rep.RTT.Seconds(),
			Elapsed:       elapsed.Seconds(),
		}
		if err != nil {
			out.Error = err.Error()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	}
	if err != nil {
		if errors.Is(err, scope.ErrInvalidConfig) {
			return usageErr(err)
		}
		return failure(fmt.Errorf("%s after %s: %w", failWord, fmtDur(elapsed), err))
	}
	if !jsonOut {
		js := "disabled"
		if rep.JetStream {
			js = "enabled"
		}
		fmt.Fprintf(w, "%s: %s\n  server    %s (%s)\n  version   %s\n  jetstream %s\n  rtt       %s\n",
			okWord, rep.ConnectedURL, rep.ServerName, rep.ServerID, rep.ServerVersion, js, fmtDur(rep.RTT))
	}
	return nil
}
