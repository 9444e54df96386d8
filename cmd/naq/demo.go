package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/metrics"
	"github.com/naq-io/naq/scope"
	"github.com/naq-io/naq/telemetry"
	"github.com/naq-io/naq/tracing"
)

type demoFlags struct {
	duration    time.Duration
	interval    time.Duration
	metricsAddr string
	traces      string
	chaos       bool
	chaosEvery  time.Duration
	rate        int
}

const demoLong = `Run a realistic workload through naq and watch it: an embedded NATS server
with JetStream (unless a server is configured), every call going through naq's
pooled scope and instrumentation, and requests, JetStream, KV and ObjectStore
calls gated by the connection's gate (fail fast while the connection is down,
one breaker per destination):

  core      two publishers on demo.orders.<id> (templated to demo.orders.*),
            a queue group of two workers, a request-reply pricing service
  jetstream stream DEMO_EVENTS, a push-style consumer (Consume) and a pull
            consumer (Fetch), both acknowledging
  kv        bucket demo_status: service status updates and a watcher
  legacy    the legacy JetStream API (nats.JetStreamContext from the
            instrumented connection's JetStream()): stream DEMO_LEGACY, a
            publisher, a push subscription with a handler and a pull
            subscription fetched with instrument.FetchJS, both acknowledging
            with instrument.Ack
  micro     a micro service demo-quotes (endpoint demo.quotes.get in the
            group demo.quotes) and a client requesting it
  objects   ObjectStore bucket demo_objects: a small object put and read back
  hops      the server's own hops (ingress, JetStream store, egress) of sampled
            messages, as spans of their traces: nats-server message tracing
            to naq.trace.hops, asked for by the publishes on the embedded
            server (by the account's msg_trace on the compose stack's NATS)

Every --interval a summary shows ops/s, p50/p99 and errors per operation (from
the same histograms /metrics exports), the connection state and the gate
state. /metrics, /healthz and /readyz are served on --metrics-addr; /readyz
follows the connection's health and lists open destination breakers.

The embedded server is used when no server is configured: no --url, no
--config or NAQ_CONFIG, no NAQ_NATS_URL or NATS_URL. Its store is a temporary
directory removed on exit. On a configured server the demo creates the streams
DEMO_EVENTS and DEMO_LEGACY, the KV bucket demo_status and the ObjectStore
bucket demo_objects, and deletes them on exit.

--chaos injects a fault every --chaos-every, in turn: a 6s stall, in which the
pricing service stops answering (its requests time out, so only the breaker of
request demo.price.quote goes closed -> open -> half_open -> closed once it
answers again) and the JetStream consumer shipper handles one message per
250ms while publishing goes on (its lag and pending grow, then drain); a quick
restart of the embedded server; and a 4s outage (disconnects, the gate failing
calls fast, then letting them through on reconnect). All of it shows in the
summary, in /metrics and in Grafana.

Traces: --traces=auto exports by OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set;
--traces=stdout prints a span count per span name at exit; --traces=stdout-spans
also prints every span as it ends, one line each (name, kind, duration,
status, trace and span ids, error.type; use a low --rate such as 2 to read
them); --traces=otlp forces OTLP (default endpoint localhost:4318);
--traces=none turns them off.

Metrics: /metrics always; OTEL_METRICS_EXPORTER=prometheus,otlp (or
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) also pushes them by OTLP, e.g. to an
OpenTelemetry Collector.

Ctrl-C (SIGINT) or SIGTERM stops the workload, drains the connection,
flushes telemetry and exits 0.`

func newDemoCmd(g *globalFlags) *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run an instrumented workload (embedded NATS server by default) with a live summary",
		Long:  demoLong,
		Example: `  naq demo                          # until Ctrl-C; metrics on http://127.0.0.1:9464/metrics
  naq demo --duration 30s --chaos   # watch reconnects and the gate
  naq demo --traces=stdout --duration 10s
  naq demo --traces=stdout-spans --rate 2 --duration 5s
  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 naq demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), g, f, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fl.DurationVar(&f.interval, "interval", 5*time.Second, "how often to print the live summary")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9464", "address serving /metrics, /healthz and /readyz (port 0: any free port)")
	fl.StringVar(&f.traces, "traces", "auto", "traces: auto (OTLP if OTEL_EXPORTER_OTLP_ENDPOINT is set), otlp, stdout (span summary at exit), stdout-spans (every span as it ends, and the summary), none")
	fl.BoolVar(&f.chaos, "chaos", false, "restart and pause the embedded server on a schedule")
	fl.DurationVar(&f.chaosEvery, "chaos-every", 5*time.Second, "time between chaos events")
	fl.IntVar(&f.rate, "rate", 200, "core publishes per second (other operations scale with it)")
	return cmd
}

// useEmbedded reports whether no server is configured anywhere.
func useEmbedded(g *globalFlags) bool {
	if g.url != "" || g.config != "" {
		return false
	}
	for _, k := range []string{scope.EnvNATSURL, scope.EnvNATSURLFallback, scope.EnvConfig} {
		if os.Getenv(k) != "" {
			return false
		}
	}
	return true
}

func (f *demoFlags) validate() error {
	switch {
	case f.duration < 0:
		return fmt.Errorf("demo: --duration=%v: must be 0 (until Ctrl-C) or positive", f.duration)
	case f.interval < 100*time.Millisecond:
		return fmt.Errorf("demo: --interval=%v: must be at least 100ms", f.interval)
	case f.chaosEvery < time.Second:
		return fmt.Errorf("demo: --chaos-every=%v: must be at least 1s", f.chaosEvery)
	case f.rate < 1 || f.rate > 100000:
		return fmt.Errorf("demo: --rate=%d: must be between 1 and 100000", f.rate)
	}
	switch f.traces {
	case "auto", "otlp", "stdout", "stdout-spans", "none":
	default:
		return fmt.Errorf("demo: --traces=%q: allowed are auto, otlp, stdout, stdout-spans, none", f.traces)
	}
	return nil
}

// demo is one run of the demo: what it started, to stop it in order.
type demo struct {
	out      io.Writer
	outMu    sync.Mutex
	start    time.Time
	server   *embeddedServer
	tel      *telemetry.Telemetry
	reader   *sdkmetric.ManualReader
	spans    *telemetry.SpanSummary
	gate     atomic.Pointer[circuit.Gate] // set once the pool dialled
	recorder *metrics.Recorder
	pool     *scope.Pool
	cfg      scope.Config
	nc       atomic.Pointer[nats.Conn] // the pooled connection, for state only
	url      string
	http     *http.Server
	httpAddr string
	// pricingStalled makes the pricing service ignore requests (chaos).
	pricingStalled atomic.Bool
	// serverTrace makes sampled publishes ask the embedded server for
	// their hops (zero, off, on a configured server); hops turns the
	// servers' trace events into spans.
	serverTrace instrument.ServerTrace
	hops        *tracing.HopCollector
	// shipper: chaos stalls the shipper consumer; its last delivery.
	shipper shipperState
}

// printf writes one line block to the terminal; safe for concurrent use.
func (d *demo) printf(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// event prints a timestamped event line (chaos, state changes).
func (d *demo) event(format string, args ...any) {
	d.printf("%s  %s\n", d.elapsed(), fmt.Sprintf(format, args...))
}

func (d *demo) elapsed() string {
	e := time.Since(d.start).Round(time.Second)
	return fmt.Sprintf("[%02d:%02d]", int(e.Minutes()), int(e.Seconds())%60)
}

func runDemo(ctx context.Context, g *globalFlags, f *demoFlags, out io.Writer) (err error) {
	if err := f.validate(); err != nil {
		return usageErr(err)
	}
	embedded := useEmbedded(g)
	if f.chaos && !embedded {
		return usageErr(errors.New("demo: --chaos needs the embedded server; remove --url, --config, NAQ_CONFIG, NAQ_NATS_URL and NATS_URL"))
	}
	d := &demo{out: out, start: time.Now()}
	defer func() {
		if cerr := d.close(); cerr != nil && err == nil {
			err = failure(cerr)
		}
	}()

	// 1. Configuration errors first (exit 2 before anything starts).
	if _, err := g.load(); err != nil {
		return err
	}

	// 2. Telemetry: Prometheus /metrics, a manual reader for the summary,
	// traces per --traces; then /metrics, /healthz, /readyz (a busy address
	// fails before the server starts).
	if err := d.setupTelemetry(ctx, f); err != nil {
		return err
	}
	if err := d.serveHTTP(f.metricsAddr); err != nil {
		return failure(err)
	}

	// 3. The server.
	var extra []scope.LoadOption
	if embedded {
		d.server, err = startEmbedded()
		if err != nil {
			return failure(err)
		}
		d.serverTrace = instrument.ServerTrace{Dest: demoTraceDest}
		// The demo keeps running through chaos: reconnect forever, quickly;
		// drain fast on exit.
		extra = append(extra, scope.WithServers(d.server.URL()),
			scope.WithClientName("naq-demo"),
			scope.WithMaxReconnectAttempts(-1),
			scope.WithReconnectTimeWait(250*time.Millisecond),
			scope.WithDrainTimeout(5*time.Second))
	}
	d.cfg, err = g.load(extra...)
	if err != nil {
		return err
	}
	d.url = redactedServers(d.cfg)
	if embedded {
		d.printf("naq demo: embedded NATS server %s (JetStream on, store %s) listening on %s\n",
			d.server.Version(), d.server.StoreDir(), d.url)
		d.printf("naq demo: in another terminal: naq health --url %s\n", d.url)
	} else {
		d.printf("naq demo: using NATS at %s\n", d.url)
	}

	d.printf("naq demo: metrics on http://%s/metrics, health on /healthz and /readyz\n", d.httpAddr)
	if push := d.metricsPush(); push != "" {
		d.printf("naq demo: metrics also pushed by %s\n", push)
	}
	d.printf("naq demo: traces: %s\n", d.tracesWhere(f))
	d.printf("%s", workloadLegend(f.rate))
	if f.duration > 0 {
		d.printf("naq demo: running for %v; summary every %v\n\n", f.duration, f.interval)
	} else {
		d.printf("naq demo: running until Ctrl-C; summary every %v\n\n", f.interval)
	}

	// 4. The workload.
	runCtx := ctx
	if f.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	// A connection that nats.go gave up on (max_reconnect_attempts spent)
	// ends the run with exit 1, so a supervisor restarts the demo.
	runCtx, stopRun := context.WithCancelCause(runCtx)
	defer stopRun(nil)
	w, err := d.startWorkload(runCtx, f.rate)
	if err != nil {
		if runCtx.Err() != nil {
			// Interrupted (or --duration over) while starting: not a failure.
			d.printf("naq demo: stopped before the workload started\n")
			return nil
		}
		return failure(fmt.Errorf("demo: start workload: %w", err))
	}
	d.collectHops(runCtx)

	var bg sync.WaitGroup
	if f.chaos {
		bg.Add(1)
		go func() { defer bg.Done(); d.runChaos(runCtx, f.chaosEvery) }()
	}
	bg.Add(1)
	go func() { defer bg.Done(); d.watchConnection(runCtx, stopRun) }()

	// 5. The live summary until the end.
	d.summaryLoop(runCtx, f.interval)
	bg.Wait()

	// 6. Stop the workload and drain.
	closedErr := context.Cause(runCtx)
	if !errors.Is(closedErr, errConnectionClosed) {
		closedErr = nil
	}
	if closedErr != nil {
		d.printf("\nnaq demo: %v; stopping\n", closedErr)
	} else if ctx.Err() != nil {
		d.printf("\nnaq demo: interrupted; stopping: workload, drain, flush telemetry (Ctrl-C again to quit at once)\n")
	} else {
		d.printf("\nnaq demo: stopping: workload, drain, flush telemetry\n")
	}
	stopErr := w.stop()
	d.finalSummary(f)
	if stopErr != nil && closedErr == nil {
		d.printf("naq demo: stop: %v\n", stopErr)
	}
	if closedErr != nil {
		return failure(fmt.Errorf("demo: %w", closedErr))
	}
	return nil
}

func (d *demo) tracesWhere(f *demoFlags) string {
	switch {
	case f.traces == "stdout-spans":
		return "every span as it ends and a span summary at exit (--traces=stdout-spans)"
	case d.spans != nil:
		return "span summary at exit (--traces=stdout)"
	case d.tel.TracesExporter() != "none":
		ep := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
		if ep == "" {
			ep = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
		}
		if ep == "" {
			ep = "default endpoint"
		}
		return fmt.Sprintf("%s to %s", d.tel.TracesExporter(), ep)
	case f.traces == "none":
		return "off (--traces=none)"
	}
	return "off (set OTEL_EXPORTER_OTLP_ENDPOINT to export, or --traces=stdout)"
}

// metricsPush names the OTLP metric export ("otlp/grpc to <endpoint>"), or
// "" when metrics are only served on /metrics.
func (d *demo) metricsPush() string {
	for _, e := range d.tel.MetricsExporters() {
		if strings.HasPrefix(e, "otlp/") {
			ep := os.Getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
			if ep == "" {
				ep = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
			}
			if ep == "" {
				ep = "default endpoint"
			}
			return e + " to " + ep
		}
	}
	return ""
}

func (d *demo) setupTelemetry(ctx context.Context, f *demoFlags) error {
	d.reader = sdkmetric.NewManualReader()
	opts := []telemetry.Option{
		telemetry.WithServiceName("naq-demo"),
		telemetry.WithMetricReader(d.reader),
	}
	switch f.traces {
	case "stdout":
		d.spans = telemetry.NewSpanSummary()
		opts = append(opts, telemetry.WithSpanProcessor(d.spans), telemetry.WithoutOTLP())
	case "stdout-spans":
		d.spans = telemetry.NewSpanSummary()
		opts = append(opts, telemetry.WithSpanProcessor(d.spans),
			telemetry.WithSpanProcessor(telemetry.NewSpanPrinter(demoWriter{d})), telemetry.WithoutOTLP())
	case "otlp":
		opts = append(opts, telemetry.WithOTLP())
	case "none":
		opts = append(opts, telemetry.WithoutOTLP())
	}
	// The demo always serves /metrics, whatever OTEL_METRICS_EXPORTER says.
	opts = append(opts, telemetry.WithPrometheus())
	tel, err := telemetry.Setup(ctx, opts...)
	if err != nil {
		if errors.Is(err, telemetry.ErrInvalidOption) {
			return usageErr(err)
		}
		return failure(err)
	}
	d.tel = tel
	return nil
}

// demoWriter writes through the demo's terminal lock, so span lines never
// split a summary block.
type demoWriter struct{ d *demo }

func (w demoWriter) Write(p []byte) (int, error) {
	w.d.outMu.Lock()
	defer w.d.outMu.Unlock()
	return w.d.out.Write(p)
}

func (d *demo) serveHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("demo: --metrics-addr %s: %w (pass another address, or port 0 for any free port)", addr, err)
	}
	d.httpAddr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/metrics", d.tel.MetricsHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if reason := d.notReady(); reason != "" {
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
		if g := d.gate.Load(); g != nil {
			for _, ds := range g.State().Destinations {
				fmt.Fprintf(w, "breaker %s: %s\n", ds.Destination, ds.State)
			}
		}
	})
	d.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.http.Serve(ln) }()
	return nil
}

// notReady is "" when the connection is up, else the reason. Readiness
// follows connection health only: an open destination breaker fails the
// calls to that destination, not the process (the body lists them).
func (d *demo) notReady() string {
	var reasons []string
	nc := d.nc.Load()
	if nc == nil {
		return "no connection yet"
	}
	if st := nc.Status(); st != nats.CONNECTED {
		reasons = append(reasons, "connection "+st.String())
	}
	if g := d.gate.Load(); g != nil && g.State().Connection == circuit.StateOpen {
		reasons = append(reasons, "calls fail fast (the connection is down)")
	}
	return strings.Join(reasons, ", ")
}

// errConnectionClosed ends the demo when nats.go stopped reconnecting.
var errConnectionClosed = errors.New("the connection is closed: nats.go stopped reconnecting (max_reconnect_attempts)")

// watchConnection prints connection state changes as events and ends the
// run (stop) when the connection is closed for good.
func (d *demo) watchConnection(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := nats.CONNECTED
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		nc := d.nc.Load()
		if nc == nil {
			continue
		}
		if st := nc.Status(); st != last {
			d.event("connection %s -> %s", last, st)
			last = st
			if st == nats.CLOSED {
				stop(errConnectionClosed)
				return
			}
		}
	}
}

// demoTraceDest is where the NATS servers publish the hops of the
// messages they trace: asked for by the demo's publishes on the embedded
// server (instrument.WithServerTrace), by the account's msg_trace on the
// compose stack's NATS (dashboards/nats/nats.conf).
const demoTraceDest = "naq.trace.hops"

// collectHops turns the servers' trace events into spans of the
// publishers' traces (ingress, JetStream store, egress) until ctx ends.
func (d *demo) collectHops(ctx context.Context) {
	hc, err := tracing.NewHopCollector(ctx, d.nc.Load(), demoTraceDest,
		tracing.WithTracerProvider(d.tel.TracerProvider()), tracing.WithPropagators(d.tel.Propagator()))
	if err != nil {
		d.printf("naq demo: server hops not collected: %v\n", err)
		return
	}
	d.hops = hc
}

// close stops everything the demo started, in reverse order.
func (d *demo) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	if d.hops != nil {
		_ = d.hops.Close()
	}
	if d.pool != nil {
		if err := d.pool.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drain: %w", err))
		}
	}
	if d.tel != nil {
		if err := d.tel.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.http != nil {
		_ = d.http.Shutdown(ctx)
	}
	if d.server != nil {
		if err := d.server.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
