package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/naq-io/naq/internal/durfmt"
	"github.com/naq-io/naq/metrics"
	"github.com/naq-io/naq/scope"
)

type perfFlags struct {
	iterations int
	roundTrips int
	publishes  int
	requests   int
	payload    int
	opTimeout  time.Duration
	minSuccess float64
	jsonOut    bool
	progress   string
}

const perfLong = `Measure a NATS deployment: --iterations fresh connects (each closed
again), then on one connection PING/PONG round trips, publishes
(publish+flush) and request-reply round trips to a responder naq runs for the
measurement. Each phase reports avg/min/p50/p90/p99/max and a success rate.

A progress bar is drawn on stderr when it is a terminal (--progress).

--json prints the report as one JSON object: started (RFC 3339), elapsed (s),
attempts, successes, success_rate, connect, rtt, ops (publish, request); each
phase has name, attempts, successes, failures, success_rate, avg, min, max,
p50, p90, p99 (seconds) and last_error (an error type, when any failed).

Exit codes: 0 success rate >= --min-success; 1 below it (or no connection);
2 usage or configuration error.`

func newPerfCmd(g *globalFlags) *cobra.Command {
	f := &perfFlags{}
	cmd := &cobra.Command{
		Use:   "perf",
		Short: "Measure connect time, RTT and publish/request latency percentiles",
		Long:  perfLong,
		Example: `  naq perf --url nats://localhost:4222
  naq perf --iterations 50 --json | jq .connect.p99`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPerf(cmd.Context(), g, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.iterations, "iterations", "n", metrics.DefaultConnects, "number of fresh connects to time")
	fl.IntVar(&f.roundTrips, "round-trips", -1, "PING/PONG round trips to time (default: --iterations)")
	fl.IntVar(&f.publishes, "publishes", -1, "publish+flush operations to time (default: 10 x --iterations)")
	fl.IntVar(&f.requests, "requests", -1, "request-reply round trips to time (default: --iterations)")
	fl.IntVar(&f.payload, "payload", metrics.DefaultPayloadSize, "payload size in bytes for publish and request")
	fl.DurationVar(&f.opTimeout, "op-timeout", metrics.DefaultOpTimeout, "timeout of one operation")
	fl.Float64Var(&f.minSuccess, "min-success", 1, "lowest success rate (0..1) that still exits 0")
	fl.BoolVar(&f.jsonOut, "json", false, "print the report as JSON on stdout")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	return cmd
}

func runPerf(ctx context.Context, g *globalFlags, f *perfFlags, stdout, stderr io.Writer) error {
	if f.iterations < 1 {
		return usageErr(fmt.Errorf("perf: --iterations=%d: must be at least 1", f.iterations))
	}
	if f.minSuccess < 0 || f.minSuccess > 1 {
		return usageErr(fmt.Errorf("perf: --min-success=%v: must be between 0 and 1", f.minSuccess))
	}
	if f.progress != "auto" && f.progress != "always" && f.progress != "never" {
		return usageErr(fmt.Errorf("perf: --progress=%q: allowed are auto, always, never", f.progress))
	}
	def := func(v, d int) int {
		if v < 0 {
			return d
		}
		return v
	}
	cfg, err := g.load()
	if err != nil {
		return err
	}
	natsOpts, err := cfg.NATSOptions()
	if err != nil {
		return usageErr(err)
	}
	url := strings.Join(cfg.Servers, ",")
	dial := func(ctx context.Context) (*nats.Conn, error) {
		return nats.Connect(url, natsOpts...)
	}

	opts := []metrics.MeasureOption{
		metrics.WithConnects(f.iterations),
		metrics.WithRoundTrips(def(f.roundTrips, f.iterations)),
		metrics.WithPublishes(def(f.publishes, 10*f.iterations)),
		metrics.WithRequests(def(f.requests, f.iterations)),
		metrics.WithPayloadSize(f.payload),
		metrics.WithOpTimeout(f.opTimeout),
	}
	var bar *progressBar
	if f.progress == "always" || (f.progress == "auto" && isTerminal(stderr)) {
		bar = &progressBar{w: stderr}
		opts = append(opts, metrics.WithProgress(bar.update))
	}
	rep, err := metrics.Measure(ctx, dial, opts...)
	if bar != nil {
		bar.finish()
	}
	if err != nil && rep == nil {
		return failure(fmt.Errorf("perf: %w", err))
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(rep); e != nil {
			return failure(fmt.Errorf("perf: encode report: %w", e))
		}
	} else {
		printReport(stdout, redactedServers(cfg), rep)
	}
	if err != nil {
		return failure(fmt.Errorf("perf: interrupted: %w", err))
	}
	if rep.SuccessRate < f.minSuccess {
		return failure(fmt.Errorf("perf: success rate %.1f%% is below --min-success %.1f%%%s",
			100*rep.SuccessRate, 100*f.minSuccess, lastErrors(rep)))
	}
	return nil
}

// lastErrors lists the error types of failed phases.
func lastErrors(rep *metrics.Report) string {
	var parts []string
	for _, p := range rep.Phases() {
		if p.Failures > 0 && p.LastError != "" {
			parts = append(parts, fmt.Sprintf("%s: %d failed (%s)", p.Name, p.Failures, p.LastError))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

func printReport(w io.Writer, servers string, rep *metrics.Report) {
	fmt.Fprintf(w, "naq perf against %s\n\n", servers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tok/total\tsuccess\tavg\tmin\tp50\tp90\tp99\tmax\t")
	for _, p := range rep.Phases() {
		if p.Attempts == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%.1f%%\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Name, p.Successes, p.Attempts,
			100*p.SuccessRate, fmtDur(p.Avg), fmtDur(p.Min), fmtDur(p.P50), fmtDur(p.P90), fmtDur(p.P99), fmtDur(p.Max))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nsuccess rate %.1f%% (%d/%d operations) in %s\n",
		100*rep.SuccessRate, rep.Successes, rep.Attempts, rep.Elapsed.Round(time.Millisecond))
}

// progressBar draws a one-line bar with \r updates.
type progressBar struct {
	w     io.Writer
	drawn bool
	last  time.Time
}

func (b *progressBar) update(p metrics.Progress) {
	now := time.Now()
	if p.Step < p.Steps && now.Sub(b.last) < 50*time.Millisecond {
		return
	}
	b.last = now
	const width = 30
	filled := 0
	if p.Steps > 0 {
		filled = width * p.Step / p.Steps
	}
	fmt.Fprintf(b.w, "\r[%s%s] %3d%% %-10s %d/%d", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		percent(p.Step, p.Steps), p.Phase, p.Done, p.Total)
	b.drawn = true
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

func percent(a, b int) int {
	if b == 0 {
		return 100
	}
	return 100 * a / b
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// fmtDur prints a latency compactly (durfmt.Compact), "-" for none.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return durfmt.Compact(d)
}

// redactedServers prints the servers of cfg with credentials hidden.
func redactedServers(cfg scope.Config) string {
	return strings.Join(cfg.Redacted().Servers, ",")
}
