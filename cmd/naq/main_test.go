package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/naq-io/naq/internal/natstest"
)

// bin is the naq binary built once for every test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "naq-cli-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "naq")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(natsGoLeaks...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// cleanEnv is the environment without NAQ_*, NATS_URL and OTEL_* variables,
// so the caller's shell cannot change what a test sees.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NAQ_") || strings.HasPrefix(kv, "NATS_URL=") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

type result struct {
	code           int
	stdout, stderr string
}

// naq runs the binary to completion (bounded by timeout).
func naq(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "naq %v did not finish in %v\nstdout:\n%s\nstderr:\n%s", args, timeout, out.String(), errb.String())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// scrape fetches /metrics and returns the metric family names; an error when
// the server is not up yet.
func scrape(addr string) (map[string]bool, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range fams {
		names[n] = true
	}
	return names, nil
}

func get(addr, path string) (int, string, error) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// demoRun starts `naq demo` and returns it with its output buffers.
type demoRun struct {
	cmd         *exec.Cmd
	out, errOut *syncBuffer
	done        chan struct{}
}

// newDemoCmdline returns an unstarted `naq demo args...` with env.
func newDemoCmdline(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"demo"}, args...)...)
	cmd.Env = env
	return cmd
}

func startDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	cmd := newDemoCmdline(t, cleanEnv(), args...)
	d := &demoRun{cmd: cmd, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.errOut
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

func (d *demoRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		t.Fatalf("demo did not exit within %v\nstdout:\n%s\nstderr:\n%s", timeout, d.out, d.errOut)
	}
	return d.cmd.ProcessState.ExitCode()
}

// scrapeUntil scrapes /metrics until every name in want has been served or
// the demo exits; it returns every name seen over the scrapes (a gauge such
// as the RTT has no value while the server is down).
func (d *demoRun) scrapeUntil(addr string, want []string) map[string]bool {
	names := map[string]bool{}
	for {
		if n, err := scrape(addr); err == nil {
			for k := range n {
				names[k] = true
			}
			if missing(names, want) == nil {
				return names
			}
		}
		select {
		case <-d.done:
			return names
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func missing(have map[string]bool, want []string) []string {
	var out []string
	for _, w := range want {
		if !have[w] {
			out = append(out, w)
		}
	}
	return out
}

// demoMetrics are the Prometheus names of DESIGN.md's table that the
// demo's steady workload exercises (no chaos needed).
var demoMetrics = []string{
	"messaging_client_operation_duration_seconds",
	"messaging_process_duration_seconds",
	"messaging_client_sent_messages_total",
	"messaging_client_consumed_messages_total",
	"nats_client_connections_active",
	"nats_client_connections_opened_total",
	"nats_client_connect_duration_seconds",
	"nats_client_connected",
	"nats_client_rtt_seconds",
	"nats_client_sent_bytes_total",
	"nats_client_received_bytes_total",
	"nats_client_subscription_pending",
	"nats_client_subscription_dropped_total",
	"nats_client_circuit_state",
}

// TestDemo runs `naq demo --duration 5s` on the embedded server, scrapes
// /metrics while it runs and checks the names, the health endpoints, the
// terminal summary and a clean exit.
func TestDemo(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	d := startDemo(t, "--duration", "5s", "--interval", "1s", "--metrics-addr", addr, "--traces", "stdout", "--rate", "50")

	names := d.scrapeUntil(addr, demoMetrics)
	assert.Empty(t, missing(names, demoMetrics), "metrics missing from /metrics; got %v", keys(names))
	code, body, err := get(addr, "/healthz")
	if assert.NoError(t, err) {
		assert.Equal(t, http.StatusOK, code, body)
	}
	code, body, err = get(addr, "/readyz")
	if assert.NoError(t, err) {
		assert.Equal(t, http.StatusOK, code, body)
	}

	require.Equal(t, 0, d.wait(t, 60*time.Second), "stdout:\n%s\nstderr:\n%s", d.out, d.errOut)
	out := d.out.String()
	assert.Contains(t, out, "embedded NATS server")
	assert.Contains(t, out, "http://"+addr+"/metrics")
	assert.Contains(t, out, "ops/s")
	assert.Contains(t, out, "publish    demo.orders.*", "subjects are templated in the summary")
	assert.Contains(t, out, "gate closed")
	assert.Contains(t, out, "spans: ", "--traces=stdout prints the span summary")
	assert.NotContains(t, out, "demo.orders.\n", "raw subjects never appear")
	assert.Empty(t, d.errOut.String())
	// The legacy JetStream context, the micro service and the ObjectStore
	// bucket show in the summary, and as span names in the span summary.
	assertWorkloadFamilies(t, out)
	_, spans, _ := strings.Cut(out, "spans: ")
	for _, name := range workloadFamilyRows {
		assert.Contains(t, spans, name+" ", "span summary")
	}

	// The temp store is gone.
	m := storeDir.FindStringSubmatch(out)
	require.Len(t, m, 2, out)
	_, err = os.Stat(m[1])
	assert.True(t, os.IsNotExist(err), "store %s was not removed", m[1])
}

// TestDemoChaos stalls the pricing service (its breaker opens, probes and
// closes), restarts the embedded server, then stops it for longer:
// reconnects, disconnects and the gate failing calls fast while the
// connection is down reach /metrics, and the demo still drains and exits 0.
func TestDemoChaos(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	d := startDemo(t, "--duration", "17s", "--interval", "2s", "--metrics-addr", addr, "--chaos", "--chaos-every", "1s")
	want := append(slices.Clone(demoMetrics),
		"nats_client_reconnects_total", "nats_client_disconnects_total",
		"nats_client_circuit_transitions_total", "nats_client_circuit_rejected_total")
	names := d.scrapeUntil(addr, want)
	assert.Empty(t, missing(names, want), "got %v", keys(names))
	require.Equal(t, 0, d.wait(t, 60*time.Second), "stdout:\n%s\nstderr:\n%s", d.out, d.errOut)
	out := d.out.String()
	assert.Contains(t, out, "chaos: restart")
	assert.Contains(t, out, "chaos: outage")
	assert.Contains(t, out, "RECONNECTING")
	assert.Contains(t, out, "gate connection: closed -> open")
	assert.Contains(t, out, "gate connection: open -> closed")
	// The stalled service: only its own breaker goes through a full cycle.
	assert.Contains(t, out, "chaos: stall")
	for _, change := range []string{"closed -> open", "open -> half_open", "half_open -> closed"} {
		assert.Contains(t, out, "gate request demo.price.quote: "+change)
	}
	// The stalled consumer: 25 messages/s published, 4/s handled for 6s,
	// so it ends the stall well behind (about 100 pending, seconds old).
	assert.Contains(t, out, "chaos: stall: consumer shipper handles one message per 250ms for 6s")
	m := regexp.MustCompile(`chaos: consumer shipper at full speed again, (\d+) messages pending, the last one ([\d.]+)s old`).FindStringSubmatch(out)
	if assert.NotNil(t, m, "no catching-up line for the stalled consumer") {
		pending, _ := strconv.Atoi(m[1])
		lag, _ := strconv.ParseFloat(m[2], 64)
		assert.Greater(t, pending, 20, "pending after the stall")
		assert.Greater(t, lag, 1.0, "lag after the stall (s)")
	}
}

// TestDemoExternalServer: with --url the demo uses that server (no embedded
// one) and deletes the streams and buckets it created.
func TestDemoExternalServer(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	r := naq(t, 60*time.Second, cleanEnv(), "demo", "--url", srv.URL(), "--duration", "2s", "--interval", "1s", "--metrics-addr", "127.0.0.1:0", "--rate", "50")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "using NATS at "+srv.URL())
	assert.NotContains(t, r.stdout, "embedded")
	assert.Contains(t, r.stdout, "kv.put")
	assert.Contains(t, r.stdout, "obj.put", "the demo made its ObjectStore bucket")
	assert.Contains(t, r.stdout, "js.stream.create  ", "the demo made its legacy stream")

	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = js.Stream(ctx, "DEMO_EVENTS")
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	_, err = js.KeyValue(ctx, "demo_status")
	assert.ErrorIs(t, err, jetstream.ErrBucketNotFound)
	_, err = js.Stream(ctx, "DEMO_LEGACY")
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	_, err = js.ObjectStore(ctx, "demo_objects")
	assert.ErrorIs(t, err, jetstream.ErrBucketNotFound)
}

// TestDemoConnectionLost: when nats.go gives up reconnecting to a
// configured server, the demo says so and exits 1 (a supervisor restarts it).
func TestDemoConnectionLost(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	cmd := newDemoCmdline(t, cleanEnv("NAQ_MAX_RECONNECT=0"), "--url", srv.URL(), "--interval", "500ms",
		"--metrics-addr", "127.0.0.1:0", "--rate", "50")
	d := &demoRun{cmd: cmd, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.errOut
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-d.done })

	require.Eventually(t, func() bool { return strings.Contains(d.out.String(), "ops/s") }, 30*time.Second, 50*time.Millisecond,
		"stdout:\n%s\nstderr:\n%s", d.out, d.errOut)
	srv.Stop()
	assert.Equal(t, 1, d.wait(t, 30*time.Second), "stdout:\n%s", d.out)
	assert.Contains(t, d.out.String(), "-> CLOSED")
	assert.Contains(t, d.errOut.String(), "naq: demo: the connection is closed")
}

// TestDemoSignal: SIGINT stops the demo gracefully with exit 0.
func TestDemoSignal(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	d := startDemo(t, "--metrics-addr", addr, "--interval", "500ms", "--rate", "50")
	// Interrupt once the workload runs (the first summary is printed).
	require.Eventually(t, func() bool { return strings.Contains(d.out.String(), "ops/s") }, 30*time.Second, 50*time.Millisecond,
		"stdout:\n%s\nstderr:\n%s", d.out, d.errOut)
	require.NoError(t, d.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 0, d.wait(t, 30*time.Second), "stdout:\n%s\nstderr:\n%s", d.out, d.errOut)
	assert.Contains(t, d.out.String(), "stopping")
	assert.Contains(t, d.out.String(), "operations in")
}

// TestDemoSignalDuringStartup: an interrupt before the workload runs is
// still a clean exit.
func TestDemoSignalDuringStartup(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	d := startDemo(t, "--metrics-addr", addr)
	require.Eventually(t, func() bool { _, err := scrape(addr); return err == nil }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t, 30*time.Second), "stdout:\n%s\nstderr:\n%s", d.out, d.errOut)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestHealth(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	url := srv.URL()

	r := naq(t, 30*time.Second, cleanEnv(), "health", "--url", url)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "healthy: "+url)
	assert.Contains(t, r.stdout, "jetstream enabled")
	assert.Contains(t, r.stdout, srv.NATS().ID())

	r = naq(t, 30*time.Second, cleanEnv(), "health", "--url", url, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var h map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &h), r.stdout)
	assert.Equal(t, true, h["healthy"])
	assert.Equal(t, true, h["jetstream"])
	assert.Equal(t, srv.NATS().ID(), h["server_id"])

	srv.Stop()
	r = naq(t, 30*time.Second, cleanEnv(), "health", "--url", url, "--timeout", "2s")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "naq: unhealthy")
	assert.Contains(t, r.stderr, url)
	assert.Contains(t, r.stderr, "no servers available")
	assert.Empty(t, r.stdout)
}

// TestWait: wait fails on a stopped server within its timeout and succeeds
// once the server comes back while it polls.
func TestWait(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	url := srv.URL()
	srv.Stop()

	r := naq(t, 30*time.Second, cleanEnv(), "wait", "--url", url, "--timeout", "1s")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "naq: not ready")

	restarted := make(chan struct{})
	go func() { defer close(restarted); time.Sleep(time.Second); srv.Restart() }()
	r = naq(t, 60*time.Second, cleanEnv(), "wait", "--url", url, "--timeout", "30s")
	<-restarted
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ready: "+url)
}

// TestPerfJSON: the documented fields of `naq perf --json`.
func TestPerfJSON(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	r := naq(t, 60*time.Second, cleanEnv(), "perf", "--url", srv.URL(), "--iterations", "3", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr, "no progress bar when stderr is not a terminal")

	var rep struct {
		Started     time.Time `json:"started"`
		Elapsed     float64   `json:"elapsed"`
		Attempts    int       `json:"attempts"`
		Successes   int       `json:"successes"`
		SuccessRate float64   `json:"success_rate"`
		Connect     phase     `json:"connect"`
		RTT         phase     `json:"rtt"`
		Ops         []phase   `json:"ops"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.False(t, rep.Started.IsZero())
	assert.Greater(t, rep.Elapsed, 0.0)
	assert.Equal(t, 1.0, rep.SuccessRate)
	assert.Equal(t, rep.Attempts, rep.Successes)
	assert.Equal(t, "connect", rep.Connect.Name)
	assert.Equal(t, 3, rep.Connect.Attempts)
	assert.Equal(t, 3, rep.RTT.Attempts)
	require.Len(t, rep.Ops, 2)
	assert.Equal(t, "publish", rep.Ops[0].Name)
	assert.Equal(t, 30, rep.Ops[0].Attempts)
	assert.Equal(t, "request", rep.Ops[1].Name)
	for _, p := range append([]phase{rep.Connect, rep.RTT}, rep.Ops...) {
		assert.Greater(t, p.P50, 0.0, p.Name)
		assert.LessOrEqual(t, p.Min, p.P50, p.Name)
		assert.LessOrEqual(t, p.P50, p.P90, p.Name)
		assert.LessOrEqual(t, p.P90, p.P99, p.Name)
		assert.LessOrEqual(t, p.P99, p.Max, p.Name)
		assert.Equal(t, 1.0, p.SuccessRate, p.Name)
	}

	// The human form, with the progress bar forced on although stderr is
	// not a terminal.
	r = naq(t, 60*time.Second, cleanEnv(), "perf", "--url", srv.URL(), "--iterations", "2", "--progress", "always")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "success rate 100.0%")
	assert.Regexp(t, `connect\s+2/2`, r.stdout)
	assert.Contains(t, r.stderr, "\r[")
	assert.Contains(t, r.stderr, "connect")
}

type phase struct {
	Name        string  `json:"name"`
	Attempts    int     `json:"attempts"`
	Successes   int     `json:"successes"`
	Failures    int     `json:"failures"`
	SuccessRate float64 `json:"success_rate"`
	Avg         float64 `json:"avg"`
	Min         float64 `json:"min"`
	Max         float64 `json:"max"`
	P50         float64 `json:"p50"`
	P90         float64 `json:"p90"`
	P99         float64 `json:"p99"`
}

// TestPerfNoServer: perf against nothing fails with exit 1.
func TestPerfNoServer(t *testing.T) {
	t.Parallel()
	r := naq(t, 60*time.Second, cleanEnv(), "perf", "--url", "nats://127.0.0.1:1", "--iterations", "1", "--round-trips", "0", "--publishes", "0", "--requests", "0")
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, "success rate 0.0%")
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "naq.yaml")
	require.NoError(t, os.WriteFile(good, []byte(`nats:
  servers: ["nats://app:url-secret@127.0.0.1:4222"]
  client_name: orders
  reconnect_time_wait: 1.5
  auth:
    user: app
    password: pw-secret
profiles:
  prod:
    max_reconnect_attempts: 10
`), 0o600))

	r := naq(t, 30*time.Second, cleanEnv(), "config", "check", good, "--profile", "prod")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "config OK")
	assert.Contains(t, r.stdout, "client_name: orders")
	assert.Contains(t, r.stdout, "max_reconnect_attempts: 10")
	assert.Contains(t, r.stdout, "reconnect_time_wait: 1.5s")
	assert.Contains(t, r.stdout, "REDACTED")
	assert.NotContains(t, r.stdout, "pw-secret")
	assert.NotContains(t, r.stdout, "url-secret")

	// Precedence: --url over NAQ_NATS_URL over the file.
	r = naq(t, 30*time.Second, cleanEnv("NAQ_NATS_URL=nats://env:4222", "NAQ_CONFIG="+good), "config", "check")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "nats://env:4222")
	r = naq(t, 30*time.Second, cleanEnv("NAQ_NATS_URL=nats://env:4222"), "config", "check", good, "--url", "nats://flag:4222")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "nats://flag:4222")
	assert.NotContains(t, r.stdout, "nats://env:4222")

	tests := []struct {
		name, file string
		env        []string
		args       []string
		want       []string
	}{
		{name: "bad env value", env: []string{"NAQ_MAX_RECONNECT=lots"}, want: []string{"max_reconnect_attempts", "lots", "NAQ_MAX_RECONNECT"}},
		{name: "negative duration", file: "nats:\n  connection_timeout: -3\n", want: []string{"connection_timeout"}},
		{name: "unknown key with line", file: "nats:\n  servers: [\"nats://x:4222\"]\n  bogus: 1\n", want: []string{"nats.bogus", "bad.yaml:3", "unknown key"}},
		{name: "unknown profile", file: "nats:\n  client_name: x\n", args: []string{"--profile", "nope"}, want: []string{"nope"}},
		{name: "secret in bad value is redacted", file: "nats:\n  auth: {user: u, password: pw-secret, token: tok-secret}\n", want: []string{"auth"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"config", "check"}
			if tt.file != "" {
				p := filepath.Join(t.TempDir(), "bad.yaml")
				require.NoError(t, os.WriteFile(p, []byte(tt.file), 0o600))
				args = append(args, p)
			}
			r := naq(t, 30*time.Second, cleanEnv(tt.env...), append(args, tt.args...)...)
			assert.Equal(t, 2, r.code, r.stdout)
			for _, w := range tt.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.NotContains(t, r.stderr, "pw-secret")
			assert.NotContains(t, r.stderr, "tok-secret")
		})
	}
}

// TestUsage: usage errors exit 2 with a hint.
func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"bogus"},
		{"health", "--nope"},
		{"demo", "--chaos", "--url", "nats://127.0.0.1:1"},
		{"demo", "--traces", "zipkin"},
		{"perf", "--iterations", "0"},
		{"config", "check", "a.yaml", "b.yaml"},
	} {
		r := naq(t, 30*time.Second, cleanEnv(), args...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "naq: ", "%v", args)
	}
	r := naq(t, 30*time.Second, cleanEnv(), "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Exit codes:")
	for _, c := range []string{"demo", "health", "wait", "perf", "config"} {
		assert.Contains(t, r.stdout, c)
	}
}
