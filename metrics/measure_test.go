package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/metrics"
)

func assertOrdered(t *testing.T, p metrics.PhaseStats) {
	t.Helper()
	assert.Positive(t, p.Min, p.Name)
	assert.LessOrEqual(t, p.Min, p.P50, p.Name)
	assert.LessOrEqual(t, p.P50, p.P90, p.Name)
	assert.LessOrEqual(t, p.P90, p.P99, p.Name)
	assert.LessOrEqual(t, p.P99, p.Max, p.Name)
	assert.LessOrEqual(t, p.Min, p.Avg, p.Name)
	assert.LessOrEqual(t, p.Avg, p.Max, p.Name)
}

func TestMeasureHealthyServer(t *testing.T) {
	s := natstest.RunServer(t)
	var progress []metrics.Progress
	var customCalls atomic.Int32
	r := metrics.NewRecorder(metrics.WithMeterProvider(newMPOnly(t)))
	rep, err := metrics.Measure(context.Background(), dialer(s.URL()),
		metrics.WithConnects(5),
		metrics.WithRoundTrips(20),
		metrics.WithPublishes(10),
		metrics.WithRequests(10),
		metrics.WithOperation("custom", 3, func(ctx context.Context, nc *nats.Conn) error {
			customCalls.Add(1)
			return nc.FlushWithContext(ctx)
		}),
		metrics.WithRecorder(r, "perf"),
		metrics.WithProgress(func(p metrics.Progress) { progress = append(progress, p) }),
	)
	require.NoError(t, err)

	assert.Equal(t, 1.0, rep.SuccessRate)
	assert.Equal(t, 5+20+10+10+3, rep.Attempts)
	assert.Equal(t, rep.Attempts, rep.Successes)
	assert.Positive(t, rep.Elapsed)
	assert.Equal(t, int32(3), customCalls.Load())

	assert.Equal(t, metrics.PhaseConnect, rep.Connect.Name)
	assert.Equal(t, 5, rep.Connect.Attempts)
	assert.Equal(t, metrics.PhaseRTT, rep.RTT.Name)
	assert.Equal(t, 20, rep.RTT.Successes)
	require.Len(t, rep.Ops, 3)
	assert.Equal(t, []string{metrics.PhasePublish, metrics.PhaseRequest, "custom"},
		[]string{rep.Ops[0].Name, rep.Ops[1].Name, rep.Ops[2].Name})
	for _, p := range rep.Phases() {
		assert.Equal(t, 1.0, p.SuccessRate, p.Name)
		assert.Zero(t, p.Failures, p.Name)
		assert.Empty(t, p.LastError, p.Name)
		assertOrdered(t, p)
	}

	require.Len(t, progress, rep.Attempts)
	for i, p := range progress {
		assert.Equal(t, i+1, p.Step)
		assert.Equal(t, rep.Attempts, p.Steps)
	}
	assert.Equal(t, metrics.Progress{Phase: "custom", Done: 3, Total: 3, Step: 48, Steps: 48}, progress[len(progress)-1])

	snap := r.Snapshot()
	assert.Equal(t, int64(5), snap.Opened, "connects went through the Recorder")
	require.Eventually(t, func() bool { return r.Snapshot().Active == 0 }, 5*time.Second, 5*time.Millisecond,
		"Measure closes every connection")
}

func TestMeasureFailingDial(t *testing.T) {
	s := natstest.RunServer(t)
	var calls atomic.Int32
	dial := func(ctx context.Context) (*nats.Conn, error) {
		if calls.Add(1) == 2 {
			return nil, nats.ErrNoServers
		}
		return nats.Connect(s.URL())
	}
	rep, err := metrics.Measure(context.Background(), dial, metrics.WithConnects(4), metrics.WithRoundTrips(4))
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Connect.Attempts)
	assert.Equal(t, 3, rep.Connect.Successes)
	assert.Equal(t, 1, rep.Connect.Failures)
	assert.Equal(t, 0.75, rep.Connect.SuccessRate)
	assert.Equal(t, "no_servers", rep.Connect.LastError)
	assert.Equal(t, 1.0, rep.RTT.SuccessRate)
	assert.Less(t, rep.SuccessRate, 1.0)
	assert.InDelta(t, 7.0/8.0, rep.SuccessRate, 1e-9)
	assertOrdered(t, rep.Connect)
}

func TestMeasureNoConnection(t *testing.T) {
	dead := deadURL(t)
	rep, err := metrics.Measure(context.Background(), dialer(dead),
		metrics.WithConnects(0), metrics.WithRoundTrips(3), metrics.WithRequests(2))
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Connect.Attempts, "at least one connect")
	assert.Equal(t, 3, rep.RTT.Failures)
	assert.Equal(t, "no_connection", rep.RTT.LastError)
	require.Len(t, rep.Ops, 1)
	assert.Equal(t, 2, rep.Ops[0].Failures)
	assert.Zero(t, rep.SuccessRate)
	assert.Zero(t, rep.Connect.P99)
}

func TestMeasureRespectsContext(t *testing.T) {
	s := natstest.RunServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := metrics.Measure(ctx, dialer(s.URL()),
		metrics.WithConnects(2), metrics.WithRoundTrips(100),
		metrics.WithProgress(func(p metrics.Progress) {
			if p.Phase == metrics.PhaseRTT && p.Done == 5 {
				cancel()
			}
		}))
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, rep)
	assert.Equal(t, 2, rep.Connect.Successes)
	assert.Equal(t, 5, rep.RTT.Attempts, "partial report")

	_, err = metrics.Measure(context.Background(), nil)
	assert.ErrorIs(t, err, metrics.ErrNilDial)
}

func TestMeasureOperationErrors(t *testing.T) {
	s := natstest.RunServer(t)
	boom := errors.New("boom")
	var n atomic.Int32
	rep, err := metrics.Measure(context.Background(), dialer(s.URL()),
		metrics.WithConnects(1), metrics.WithRoundTrips(0),
		metrics.WithOperation("flaky", 4, func(context.Context, *nats.Conn) error {
			if n.Add(1)%2 == 0 {
				return nats.ErrTimeout
			}
			return nil
		}),
		metrics.WithOperation("ignored", 0, func(context.Context, *nats.Conn) error { return boom }),
	)
	require.NoError(t, err)
	assert.Zero(t, rep.RTT.Attempts)
	require.Len(t, rep.Ops, 1)
	assert.Equal(t, 2, rep.Ops[0].Failures)
	assert.Equal(t, "timeout", rep.Ops[0].LastError)
	assert.Equal(t, 0.5, rep.Ops[0].SuccessRate)
}

func TestReportJSON(t *testing.T) {
	rep := metrics.Report{
		Started:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Elapsed:     1500 * time.Millisecond,
		Attempts:    2,
		Successes:   1,
		SuccessRate: 0.5,
		Connect: metrics.PhaseStats{Name: "connect", Attempts: 2, Successes: 1, Failures: 1, SuccessRate: 0.5,
			Avg: 2 * time.Millisecond, Min: 2 * time.Millisecond, Max: 2 * time.Millisecond,
			P50: 2 * time.Millisecond, P90: 2 * time.Millisecond, P99: 2 * time.Millisecond, LastError: "no_servers"},
	}
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, 1.5, m["elapsed"])
	assert.Equal(t, 0.5, m["success_rate"])
	assert.NotContains(t, m, "rtt", "skipped phase omitted")
	c := m["connect"].(map[string]any)
	for _, k := range []string{"name", "attempts", "successes", "failures", "success_rate", "avg", "min", "max", "p50", "p90", "p99", "last_error"} {
		assert.Contains(t, c, k)
	}
	assert.Equal(t, 0.002, c["p99"])

	var back metrics.Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, rep, back)
}

func TestSnapshotJSON(t *testing.T) {
	snap := metrics.Snapshot{Active: 1, Opened: 2, Failed: 1, AvgConnectTime: 250 * time.Millisecond,
		Connections: []metrics.ConnectionSnapshot{{Name: "a", Connected: true, RTT: time.Millisecond, OutBytes: 7}}}
	b, err := json.Marshal(snap)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, 1.0, m["active_connections"])
	assert.Equal(t, 2.0, m["total_connections"])
	assert.Equal(t, 1.0, m["failed_connections"])
	assert.Equal(t, 0.25, m["average_connection_time"])
	assert.NotContains(t, m, "last_error")
	conns := m["connections"].([]any)
	require.Len(t, conns, 1)
	c := conns[0].(map[string]any)
	assert.Equal(t, 0.001, c["rtt"])
	assert.Equal(t, 7.0, c["out_bytes"])
}
