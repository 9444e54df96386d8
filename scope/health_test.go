package scope_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/scope"
)

func TestHealthReportsServer(t *testing.T) {
	srv := startServer(t, func(o *server.Options) { o.ServerName = "naq-health" })
	p := newPool(t)
	ctx := context.Background()
	r, err := scope.Health(ctx, srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	assert.Equal(t, srv.NATS().ID(), r.ServerID)
	assert.Equal(t, "naq-health", r.ServerName)
	assert.Equal(t, server.VERSION, r.ServerVersion)
	assert.True(t, r.JetStream)
	assert.Equal(t, srv.URL(), r.ConnectedURL)
	assert.Positive(t, r.RTT)

	// A second check reuses the pooled connection.
	_, err = scope.Health(ctx, srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	assert.Equal(t, 1, p.Len())
	assert.Equal(t, 1, srv.NumClients())
}

func TestHealthWithoutJetStream(t *testing.T) {
	srv := startServer(t, natstest.WithoutJetStream())
	p := newPool(t)
	r, err := scope.Health(context.Background(), srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	assert.False(t, r.JetStream)
	assert.NotEmpty(t, r.ServerID)
}

func TestHealthOfDisconnectedScope(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	ctx := context.Background()
	cfg := cfgFor(srv)
	cfg.ReconnectTimeWait = time.Hour // stays in RECONNECTING
	cfg.MaxReconnectAttempts = -1
	s, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	_, err = s.Health(ctx)
	require.NoError(t, err)
	srv.Stop()
	require.Eventually(t, func() bool { return !s.RawConn().IsConnected() }, 5*time.Second, 5*time.Millisecond)
	_, err = s.Health(ctx)
	assert.ErrorIs(t, err, nats.ErrDisconnected)
	assert.Contains(t, err.Error(), "scope: health: connection to")
	require.NoError(t, s.Close(ctx))
	require.NoError(t, p.Close(ctx))
	srv.Restart()
}

func TestWaitReadyPollsUntilServerIsUp(t *testing.T) {
	srv := startServer(t)
	srv.Stop()
	var (
		mu       sync.Mutex
		attempts int
	)
	p := newPool(t, scope.WithDialObserver(func(scope.DialEvent) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 3 {
			srv.Restart()
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := scope.WaitReady(ctx, srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv),
		scope.WithRetry(fastPolicy(-1)))
	require.NoError(t, err)
	assert.NotEmpty(t, r.ServerID)
	assert.Equal(t, 4, attempts, "three refused polls, then ready")
}

func TestWaitReadyDeadlineWrapsLastCause(t *testing.T) {
	srv := startServer(t)
	srv.Stop()
	p := newPool(t)
	// Long enough for at least one refused attempt on a loaded machine (the
	// assertions need a last cause); WaitReady polls until it passes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := scope.WaitReady(ctx, srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv))
	require.Error(t, err)
	assert.ErrorIs(t, err, scope.ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, nats.ErrNoServers, "the last connect error is wrapped")
	var nr *scope.NotReadyError
	require.ErrorAs(t, err, &nr)
	assert.GreaterOrEqual(t, nr.Attempts, 1)
	var ce *scope.ConnectError
	assert.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "scope: not ready after")
	srv.Restart()
}

func TestWaitReadyStopsOnAuthFailure(t *testing.T) {
	srv := startServer(t, func(o *server.Options) { o.Username, o.Password = "alice", "s3cret" })
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := scope.WaitReady(ctx, srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv),
		scope.WithUserPassword("alice", "nope"))
	assert.ErrorIs(t, err, scope.ErrNotReady)
	assert.ErrorIs(t, err, nats.ErrAuthorization)
	var nr *scope.NotReadyError
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, 1, nr.Attempts, "no polling storm on bad credentials")
	assert.Nil(t, nr.Ctx, "stopped before the deadline")
}

func TestHealthChecker(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	results := make(chan scope.HealthResult, 100)
	hc, err := scope.NewHealthChecker(srv.URL(), 10*time.Millisecond, scope.WithPool(p), scope.WithLookupEnv(noEnv),
		scope.WithOnCheck(func(r scope.HealthResult) {
			select {
			case results <- r:
			default:
			}
		}))
	require.NoError(t, err)
	_, ok := hc.Last()
	assert.False(t, ok)
	assert.False(t, hc.Healthy())

	ctx := context.Background()
	require.NoError(t, hc.Start(ctx))
	assert.ErrorIs(t, hc.Start(ctx), scope.ErrAlreadyStarted)
	for i := 0; i < 3; i++ {
		r := <-results
		require.NoError(t, r.Err)
		assert.True(t, r.Report.JetStream)
	}
	hc.Stop()
	hc.Stop() // idempotent
	assert.True(t, hc.Healthy())
	last, ok := hc.Last()
	require.True(t, ok)
	assert.NotEmpty(t, last.Report.ServerID)

	// Failures are counted while the server is down; a stopped checker restarts.
	srv.Stop()
	r := hc.Check(ctx)
	require.Error(t, r.Err)
	assert.Equal(t, 1, r.ConsecutiveFailures)
	assert.Equal(t, 2, hc.Check(ctx).ConsecutiveFailures)
	assert.False(t, hc.Healthy())
	srv.Restart()
	require.NoError(t, hc.Start(ctx))
	require.Eventually(t, hc.Healthy, 10*time.Second, 10*time.Millisecond)
	hc.Stop()
}

func TestHealthCheckerStopsWithContext(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	hc, err := scope.NewHealthChecker(srv.URL(), time.Hour, scope.WithPool(p), scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, hc.Start(ctx))
	cancel()
	hc.Stop() // returns once the goroutine has exited (goleak checks the rest)
	require.NoError(t, hc.Start(context.Background()), "a checker whose ctx ended can start again")
	hc.Stop()
}

func TestNewHealthCheckerRejectsBadInput(t *testing.T) {
	_, err := scope.NewHealthChecker("nats://localhost:4222", 0)
	assert.ErrorIs(t, err, scope.ErrInvalidOption)
	_, err = scope.NewHealthChecker("http://localhost:4222", time.Second, scope.WithLookupEnv(noEnv))
	assert.ErrorIs(t, err, scope.ErrInvalidConfig)
}
