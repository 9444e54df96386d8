package telemetry_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/internal/natstest"
)

// The one-line change, as a user makes it in a module of their own: a
// program outside this repository (a fresh module with a replace directive)
// sets telemetry up, dials with plain nats.go, wraps the connection with
// instrument.NewConn and nothing else, and its /metrics must show every
// connection and operation metric of the names table that such a program
// feeds. Connect attempts (opened, failed, connect duration) are left out:
// they happen before there is a connection to wrap (instrument.Connect
// counts them).
const oneLineProgram = `package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/telemetry"
)

func main() {
	ctx := context.Background()
	// An application installs its providers as the OpenTelemetry globals,
	// which the wrappers read by default.
	tel, err := telemetry.Setup(ctx, telemetry.WithGlobal(), telemetry.WithoutOTLP(), telemetry.WithServiceName("oneline"))
	if err != nil {
		panic(err)
	}
	defer tel.Shutdown(ctx)
	nc, err := nats.Connect(os.Getenv("NATS_URL"), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer nc.Close()

	conn := instrument.NewConn(nc) // the one-line change

	if _, err := conn.Subscribe("svc.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		panic(err)
	}
	sub, err := conn.SubscribeSync("events.>")
	if err != nil {
		panic(err)
	}
	_ = conn.Flush()
	for i := 0; i < 10; i++ {
		_ = conn.Publish("events.created", []byte("x"))
		if _, err := conn.Request("svc.echo", []byte("ping"), 5*time.Second); err != nil {
			panic(err)
		}
	}
	_, _ = conn.NextMsg(sub, time.Second)
	if err := nc.ForceReconnect(); err != nil {
		panic(err)
	}
	for nc.Stats().Reconnects == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	_ = conn.Flush()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println("metrics", ln.Addr().String())
	_ = http.Serve(ln, tel.MetricsHandler())
}
`

func TestOneLineWrapInAFreshModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("main.go", oneLineProgram)
	write("go.mod", "module example.com/oneline\n\ngo 1.26\n\nrequire github.com/naq-io/naq v0.0.0\n\nreplace github.com/naq-io/naq => "+repo+"\n")
	gocmd := func(args ...string) {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %v:\n%s", args, out)
	}
	gocmd("mod", "tidy")
	gocmd("build", "-o", "oneline", ".")

	srv := natstest.RunServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prog := exec.CommandContext(ctx, filepath.Join(dir, "oneline"))
	prog.Env = append(os.Environ(), "NATS_URL="+srv.URL())
	stdout, err := prog.StdoutPipe()
	require.NoError(t, err)
	prog.Stderr = os.Stderr
	require.NoError(t, prog.Start())
	t.Cleanup(func() { _ = prog.Process.Kill(); _ = prog.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "metrics "))

	want := []string{
		"messaging_client_operation_duration_seconds_bucket",
		"messaging_process_duration_seconds_bucket",
		"messaging_client_sent_messages_total",
		"messaging_client_consumed_messages_total",
		"nats_client_connections_active",
		"nats_client_connected",
		"nats_client_rtt_seconds",
		"nats_client_reconnects_total",
		"nats_client_disconnects_total",
		"nats_client_sent_bytes_total",
		"nats_client_received_bytes_total",
		"nats_client_subscription_pending",
		"nats_client_subscription_dropped_total",
	}
	missing := func(body string) []string {
		var out []string
		for _, name := range want {
			if !strings.Contains(body, "\n"+name+"{") {
				out = append(out, name)
			}
		}
		return out
	}
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for body = httpGet("http://" + addr + "/metrics"); len(missing(body)) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		body = httpGet("http://" + addr + "/metrics")
	}
	assert.Empty(t, missing(body), "missing from /metrics of a connection wrapped with one line:\n%s", body)
}

// httpGet returns the body of url, or "" on any error (the caller polls).
func httpGet(url string) string {
	resp, err := http.Get(url) //nolint:gosec // a loopback URL the test made
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return ""
	}
	return string(b)
}
