package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoInProcess runs the demo (with chaos) inside the test process, so
// that TestMain's leak check proves every goroutine it started — embedded
// server, pool, consumers, watcher, telemetry, HTTP server, chaos — has
// stopped when it returns.
func TestDemoInProcess(t *testing.T) {
	t.Setenv("NAQ_NATS_URL", "")
	t.Setenv("NATS_URL", "")
	t.Setenv("NAQ_CONFIG", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Chaos every second: a 6s stall, a restart, then the run ends in the
	// middle of the outage that follows.
	code := run(ctx, []string{"demo", "--duration", "10s", "--interval", "1s", "--metrics-addr", "127.0.0.1:0",
		"--chaos", "--chaos-every", "1s", "--traces", "stdout", "--rate", "50"}, &out, &errOut)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "chaos: stall")
	assert.Contains(t, out.String(), "chaos: restart")
	assert.Contains(t, out.String(), "spans: ")
}
