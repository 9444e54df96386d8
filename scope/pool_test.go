package scope_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/scope"
)

// dialCounter counts pool dial attempts.
type dialCounter struct {
	n    atomic.Int64
	mu   sync.Mutex
	errs []error
}

func (d *dialCounter) observe(ev scope.DialEvent) {
	d.n.Add(1)
	d.mu.Lock()
	d.errs = append(d.errs, ev.Err)
	d.mu.Unlock()
}

func (d *dialCounter) option() scope.PoolOption { return scope.WithDialObserver(d.observe) }

func TestAcquireSharesOneConnectionPerConfig(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	p := newPool(t, dials.option())
	ctx := context.Background()
	cfg := cfgFor(srv)

	s1, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	s2, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	assert.Same(t, s1.RawConn(), s2.RawConn(), "same config, same connection")
	assert.Equal(t, 1, srv.NumClients())

	other := cfg
	other.ClientName = "other"
	s3, err := p.Acquire(ctx, other)
	require.NoError(t, err)
	assert.NotSame(t, s1.RawConn(), s3.RawConn(), "another config, another connection")
	assert.Equal(t, 2, srv.NumClients())
	assert.Equal(t, 2, p.Len())
	assert.EqualValues(t, 2, dials.n.Load())

	for _, s := range []*scope.Scope{s1, s2, s3} {
		require.NoError(t, s.Close(ctx))
	}
	assert.False(t, s1.RawConn().IsClosed(), "idle connections stay open for the idle timeout")
}

func TestScopingInALoopReusesOneConnection(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	p := newPool(t, dials.option())
	ctx := context.Background()
	conns := map[*nats.Conn]bool{}
	for i := 0; i < 50; i++ {
		err := scope.Run(ctx, srv.URL(), func(ctx context.Context, nc *instrument.Conn) error {
			conns[nc.Conn()] = true
			return nc.Publish("loop", []byte("x"))
		}, scope.WithPool(p), scope.WithLookupEnv(noEnv))
		require.NoError(t, err)
	}
	assert.Len(t, conns, 1)
	assert.EqualValues(t, 1, dials.n.Load())
	assert.Equal(t, 1, srv.NumClients())
}

func TestLastReleaseDrainsAndWaitsForClosed(t *testing.T) {
	srv := startServer(t)
	p := newPool(t, scope.WithIdleTimeout(0))
	ctx := context.Background()

	s, err := p.Acquire(ctx, cfgFor(srv))
	require.NoError(t, err)
	nc := s.RawConn()
	const n = 20
	var handled atomic.Int64
	_, err = nc.Subscribe("work", func(*nats.Msg) {
		time.Sleep(5 * time.Millisecond) // slow handler: drain must wait for it
		handled.Add(1)
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush()) // the subscription is registered
	pub, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		require.NoError(t, pub.Publish("work", []byte("job")))
	}
	require.NoError(t, pub.Flush())
	pub.Close()
	require.NoError(t, nc.Flush()) // every message has reached the client

	require.NoError(t, s.Close(ctx))
	assert.True(t, nc.IsClosed(), "Close returned only after the closed callback")
	assert.EqualValues(t, n, handled.Load(), "drain delivered every pending message before closing")
	assert.Equal(t, 0, p.Len())
}

func TestDrainTimeoutBoundsRelease(t *testing.T) {
	srv := startServer(t)
	p := newPool(t, scope.WithIdleTimeout(0))
	ctx := context.Background()
	cfg := cfgFor(srv)
	cfg.DrainTimeout = 100 * time.Millisecond

	s, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	nc := s.RawConn()
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	_, err = nc.Subscribe("stuck", func(*nats.Msg) {
		entered <- struct{}{}
		<-block
	})
	require.NoError(t, err)
	require.NoError(t, nc.Publish("stuck", nil))
	<-entered

	err = s.Close(ctx)
	close(block)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "drain_timeout 100ms")
	assert.True(t, nc.IsClosed(), "a drain that overruns is closed hard")
}

func TestReleaseOnErrorAndPanic(t *testing.T) {
	srv := startServer(t)
	p := newPool(t, scope.WithIdleTimeout(0))
	ctx := context.Background()
	opts := []scope.Option{scope.WithPool(p), scope.WithLookupEnv(noEnv)}

	errBoom := errors.New("boom")
	var got *nats.Conn
	err := scope.Run(ctx, srv.URL(), func(_ context.Context, nc *instrument.Conn) error {
		got = nc.Conn()
		return fmt.Errorf("wrapped: %w", errBoom)
	}, opts...)
	assert.ErrorIs(t, err, errBoom, "the closure's error comes back unchanged")
	assert.True(t, got.IsClosed(), "released (and drained) on error")
	assert.Equal(t, 0, p.Len())

	assert.PanicsWithValue(t, "kaboom", func() {
		_ = scope.Run(ctx, srv.URL(), func(_ context.Context, nc *instrument.Conn) error {
			got = nc.Conn()
			panic("kaboom")
		}, opts...)
	})
	assert.True(t, got.IsClosed(), "released on panic, then the panic continued")
	assert.Equal(t, 0, p.Len())

	v, err := scope.Do(ctx, srv.URL(), func(_ context.Context, nc *instrument.Conn) (string, error) {
		return nc.ConnectedServerId(), nil
	}, opts...)
	require.NoError(t, err)
	assert.NotEmpty(t, v)
}

func TestScopeCloseIsIdempotent(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	ctx := context.Background()
	s1, err := p.Acquire(ctx, cfgFor(srv))
	require.NoError(t, err)
	s2, err := p.Acquire(ctx, cfgFor(srv))
	require.NoError(t, err)
	require.NoError(t, s1.Close(ctx))
	require.NoError(t, s1.Close(ctx)) // must not drop s2's reference
	require.NoError(t, s2.RawConn().Publish("still", []byte("open")))
	require.NoError(t, s2.RawConn().Flush())
	require.NoError(t, s2.Close(ctx))
}

func TestPoolCloseDrainsAllAndRejectsUse(t *testing.T) {
	srv := startServer(t)
	p, err := scope.NewPool()
	require.NoError(t, err)
	ctx := context.Background()
	cfg := cfgFor(srv)
	held, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	other := cfg
	other.ClientName = "idle"
	idle, err := p.Acquire(ctx, other)
	require.NoError(t, err)
	require.NoError(t, idle.Close(ctx))
	require.Equal(t, 2, srv.NumClients())

	require.NoError(t, p.Close(ctx))
	assert.True(t, held.RawConn().IsClosed())
	assert.True(t, idle.RawConn().IsClosed())
	assert.Equal(t, 0, p.Len())

	_, err = p.Acquire(ctx, cfg)
	assert.ErrorIs(t, err, scope.ErrPoolClosed)
	err = scope.Run(ctx, srv.URL(), func(context.Context, *instrument.Conn) error { return nil },
		scope.WithPool(p), scope.WithLookupEnv(noEnv))
	assert.ErrorIs(t, err, scope.ErrPoolClosed)
	assert.EqualError(t, err, "scope: pool closed")
	assert.NoError(t, held.Close(ctx), "releasing after the pool closed is a no-op")
	assert.NoError(t, p.Close(ctx), "Close is idempotent")
}

func TestIdleConnectionIsDrainedAfterIdleTimeout(t *testing.T) {
	srv := startServer(t)
	p := newPool(t, scope.WithIdleTimeout(20*time.Millisecond))
	ctx := context.Background()
	s, err := p.Acquire(ctx, cfgFor(srv))
	require.NoError(t, err)
	nc := s.RawConn()
	require.NoError(t, s.Close(ctx))
	require.Eventually(t, nc.IsClosed, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 0, p.Len())

	s, err = p.Acquire(ctx, cfgFor(srv))
	require.NoError(t, err)
	assert.NotSame(t, nc, s.RawConn(), "a fresh connection after the idle one went away")
	require.NoError(t, s.Close(ctx))
}

// A caller waiting for a dial another caller started is not failed by that
// caller's context: when the dialer's context ends, the waiter dials again
// under its own.
func TestWaiterOutlivesTheDialersContext(t *testing.T) {
	srv := startServer(t)
	srv.Stop()
	var dials dialCounter
	p := newPool(t, dials.option(), scope.WithoutGate())
	cfg := cfgFor(srv)
	retry := scope.WithRetry(scope.RetryPolicy{MaxRetries: -1, InitialDelay: 10 * time.Millisecond, BackoffFactor: 1})

	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	errA := make(chan error, 1)
	go func() {
		_, err := p.Acquire(ctxA, cfg, retry)
		errA <- err
	}()
	require.Eventually(t, func() bool { return dials.n.Load() > 0 }, 5*time.Second, time.Millisecond, "A is dialing")

	ctxB, cancelB := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelB()
	type result struct {
		s   *scope.Scope
		err error
	}
	resB := make(chan result, 1)
	go func() {
		s, err := p.Acquire(ctxB, cfg, retry)
		resB <- result{s, err}
	}()
	// Give B time to join A's dial. Should it join late, it dials on its own
	// and the test still holds (it then just proves less).
	time.Sleep(50 * time.Millisecond)

	cancelA()
	require.ErrorIs(t, <-errA, context.Canceled)
	srv.Restart()
	r := <-resB
	require.NoError(t, r.err, "B's context is alive: A's cancellation must not fail it")
	assert.True(t, r.s.RawConn().IsConnected())
	require.NoError(t, r.s.Close(context.Background()))
}

func TestConcurrentAcquireDialsOnce(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	p := newPool(t, dials.option())
	ctx := context.Background()
	cfg := cfgFor(srv)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.Acquire(ctx, cfg)
			if err != nil {
				errs <- err
				return
			}
			if err := s.RawConn().Publish("c", nil); err != nil {
				errs <- err
			}
			errs <- s.Close(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, dials.n.Load())
	assert.Equal(t, 1, srv.NumClients())
}

func TestClosedConnectionIsReplaced(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	ctx := context.Background()
	cfg := cfgFor(srv)
	cfg.MaxReconnectAttempts = 0 // a lost connection closes for good
	s, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	old := s.RawConn()
	require.NoError(t, s.Close(ctx))
	srv.Restart()
	require.Eventually(t, old.IsClosed, 5*time.Second, 5*time.Millisecond)

	s, err = p.Acquire(ctx, cfg)
	require.NoError(t, err)
	assert.NotSame(t, old, s.RawConn())
	assert.True(t, s.RawConn().IsConnected())
	require.NoError(t, s.Close(ctx))
}

func TestAcquireHonoursContext(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Acquire(ctx, cfgFor(srv))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, p.Len())
}

func TestNewPoolRejectsBadOptions(t *testing.T) {
	_, err := scope.NewPool(scope.WithIdleTimeout(-time.Second))
	assert.ErrorIs(t, err, scope.ErrInvalidOption)
	assert.EqualError(t, err, "scope: invalid option: scope.WithIdleTimeout=-1s: allowed: a duration >= 0")
	_, err = scope.NewPool(scope.WithRetry(scope.RetryPolicy{MaxRetries: 2}))
	assert.ErrorIs(t, err, scope.ErrInvalidOption)
	assert.EqualError(t, err, "scope: invalid option: RetryPolicy.InitialDelay=0s: allowed: a duration > 0")
	_, err = scope.NewLimiter(0)
	assert.EqualError(t, err, "scope: invalid option: NewLimiter max=0: allowed: an integer >= 1")
	_, err = scope.NewHealthChecker("", -time.Second)
	assert.EqualError(t, err, "scope: invalid option: NewHealthChecker interval=-1s: allowed: a duration > 0")
}

func TestOpenUsesEnvironmentWhenURLEmpty(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	ctx := context.Background()
	s, err := scope.Open(ctx, "", scope.WithPool(p),
		scope.WithLookupEnv(env(map[string]string{"NAQ_NATS_URL": srv.URL(), "NAQ_CLIENT_NAME": "from-env"})))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(ctx)) }()
	assert.Equal(t, "from-env", s.Config().ClientName)
	assert.Equal(t, []string{srv.URL()}, s.Config().Servers)
	assert.True(t, s.RawConn().IsConnected())

	_, err = scope.Open(ctx, "", scope.WithPool(p), scope.WithLookupEnv(env(map[string]string{"NAQ_MAX_RECONNECT": "x"})))
	assert.ErrorIs(t, err, scope.ErrInvalidConfig)
}

func TestJetStreamAndKeyValueHelpers(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	ctx := context.Background()
	opts := []scope.Option{scope.WithPool(p), scope.WithLookupEnv(noEnv)}

	err := scope.JetStream(ctx, srv.URL(), func(ctx context.Context, js jetstream.JetStream) error {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
			return err
		}
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "profiles"})
		return err
	}, opts...)
	require.NoError(t, err)

	seq, err := scope.DoJetStream(ctx, srv.URL(), func(ctx context.Context, js jetstream.JetStream) (uint64, error) {
		ack, err := js.Publish(ctx, "orders.new", []byte("o1"))
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	}, opts...)
	require.NoError(t, err)
	assert.EqualValues(t, 1, seq)

	err = scope.KeyValue(ctx, srv.URL(), "profiles", func(ctx context.Context, kv jetstream.KeyValue) error {
		_, err := kv.Put(ctx, "alice", []byte("admin"))
		return err
	}, opts...)
	require.NoError(t, err)
	role, err := scope.DoKeyValue(ctx, srv.URL(), "profiles", func(ctx context.Context, kv jetstream.KeyValue) (string, error) {
		e, err := kv.Get(ctx, "alice")
		if err != nil {
			return "", err
		}
		return string(e.Value()), nil
	}, opts...)
	require.NoError(t, err)
	assert.Equal(t, "admin", role)

	_, err = scope.DoKeyValue(ctx, srv.URL(), "profiles", func(ctx context.Context, kv jetstream.KeyValue) (string, error) {
		_, err := kv.Get(ctx, "bob")
		return "", err
	}, opts...)
	assert.ErrorIs(t, err, jetstream.ErrKeyNotFound, "nats.go errors pass through unchanged")

	called := false
	err = scope.KeyValue(ctx, srv.URL(), "missing", func(context.Context, jetstream.KeyValue) error {
		called = true
		return nil
	}, opts...)
	assert.ErrorIs(t, err, jetstream.ErrBucketNotFound)
	assert.False(t, called)
	assert.Equal(t, 1, srv.NumClients(), "all helpers shared one pooled connection")
}

func TestLimiterWithOpen(t *testing.T) {
	srv := startServer(t)
	p := newPool(t)
	lim, err := scope.NewLimiter(1)
	require.NoError(t, err)
	ctx := context.Background()
	opts := []scope.Option{scope.WithPool(p), scope.WithLookupEnv(noEnv), scope.WithLimiter(lim)}

	s, err := scope.Open(ctx, srv.URL(), opts...)
	require.NoError(t, err)
	assert.Equal(t, 1, lim.InUse())

	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = scope.Open(wctx, srv.URL(), opts...)
	assert.ErrorIs(t, err, scope.ErrLimit)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var le *scope.LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 1, le.Max)

	require.NoError(t, s.Close(ctx))
	assert.Equal(t, 0, lim.InUse())
	s, err = scope.Open(ctx, srv.URL(), opts...)
	require.NoError(t, err)
	require.NoError(t, s.Close(ctx))
	assert.Equal(t, 0, lim.InUse())
}

// TestLimiterAsPoolDefault: WithLimiter given to NewPool holds a slot for
// every scope of the pool; given to one acquire it replaces the pool's,
// and WithLimiter(nil) lifts the limit for that acquire.
func TestLimiterAsPoolDefault(t *testing.T) {
	srv := startServer(t)
	poolLim, err := scope.NewLimiter(1)
	require.NoError(t, err)
	callLim, err := scope.NewLimiter(1)
	require.NoError(t, err)
	p := newPool(t, scope.WithLimiter(poolLim))
	ctx := context.Background()
	cfg := scope.DefaultConfig()
	cfg.Servers = []string{srv.URL()}

	s1, err := p.Acquire(ctx, cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, poolLim.InUse())

	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = scope.Open(wctx, "", scope.WithPool(p), scope.WithConfig(cfg))
	assert.ErrorIs(t, err, scope.ErrLimit, "Open through the pool waits for the pool's limiter")

	s2, err := p.Acquire(ctx, cfg, scope.WithLimiter(callLim))
	require.NoError(t, err)
	assert.Equal(t, 1, poolLim.InUse(), "the call's limiter replaces the pool's")
	assert.Equal(t, 1, callLim.InUse())

	s3, err := p.Acquire(ctx, cfg, scope.WithLimiter(nil))
	require.NoError(t, err, "no limit for this acquire")

	for _, s := range []*scope.Scope{s1, s2, s3} {
		require.NoError(t, s.Close(ctx))
	}
	assert.Equal(t, 0, poolLim.InUse())
	assert.Equal(t, 0, callLim.InUse())
}

func TestDefaultPoolAndShutdown(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	err := scope.Run(ctx, srv.URL(), func(_ context.Context, nc *instrument.Conn) error {
		return nc.Flush()
	}, scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	first := scope.DefaultPool()
	assert.Equal(t, 1, first.Len(), "the default pool keeps the idle connection")
	require.NoError(t, scope.Shutdown(ctx))
	assert.Equal(t, 0, first.Len())
	assert.NotSame(t, first, scope.DefaultPool(), "a fresh default pool after Shutdown")
	require.NoError(t, scope.Shutdown(ctx))
}

func TestWithNATSOptionsApplyAndChainClosedHandler(t *testing.T) {
	srv := startServer(t)
	var closedCalls atomic.Int64
	p := newPool(t, scope.WithIdleTimeout(0), scope.WithNATSOptions(
		nats.Name("from-nats-option"),
		nats.ClosedHandler(func(*nats.Conn) { closedCalls.Add(1) }),
	))
	ctx := context.Background()

	s, err := scope.Open(ctx, srv.URL(), scope.WithPool(p), scope.WithClientName("from-config"),
		scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	assert.Equal(t, "from-nats-option", s.RawConn().Opts.Name, "WithNATSOptions apply after the config's options")
	require.NoError(t, s.Close(ctx), "the last release drains and waits for the close")

	assert.Equal(t, int64(1), closedCalls.Load(), "the user's closed handler runs, chained with the pool's")
}

// TestConcurrentHelpersOnSharedOptions runs Run and Do from many goroutines
// at once on the same and on different configs, each through an option
// slice shared by every goroutine (WithConfig's base is read, never
// written, by the loads), with per-call edits and with an invalid config
// in the mix: every call gets the connection of its own config, every bad
// call the same *ConfigError, and each config is dialed once.
func TestConcurrentHelpersOnSharedOptions(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	p := newPool(t, dials.option())
	ctx := context.Background()

	const keys = 4
	shared := make([][]scope.Option, keys)
	for k := range keys {
		cfg := cfgFor(srv)
		cfg.ClientName = fmt.Sprintf("stress-%d", k)
		shared[k] = []scope.Option{scope.WithPool(p), scope.WithConfig(cfg)}
	}
	bad := cfgFor(srv)
	bad.PingInterval = 0
	badOpts := []scope.Option{scope.WithPool(p), scope.WithConfig(bad)}
	const badMsg = "scope: invalid config: nats.ping_interval=0s (option scope.WithConfig): allowed: a duration > 0"

	const workers, rounds = 16, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				k := (w + i) % keys
				want := fmt.Sprintf("stress-%d", k)
				switch i % 4 {
				case 0: // Run, same options every time
					errs <- scope.Run(ctx, "", func(_ context.Context, nc *instrument.Conn) error {
						if got := nc.Opts.Name; got != want {
							return fmt.Errorf("Run on %s got the connection of %s", want, got)
						}
						return nc.Publish("stress", nil)
					}, shared[k]...)
				case 1: // Do, returning the connection's name
					got, err := scope.Do(ctx, "", func(_ context.Context, nc *instrument.Conn) (string, error) {
						return nc.Opts.Name, nil
					}, shared[k]...)
					if err == nil && got != want {
						err = fmt.Errorf("Do on %s got the connection of %s", want, got)
					}
					errs <- err
				case 2: // a per-call edit that lands on another key
					// It also writes the server list in place: the race
					// detector fails the test if that reaches the shared base.
					other := fmt.Sprintf("stress-%d", (k+1)%keys)
					opts := append(append([]scope.Option(nil), shared[k]...),
						scope.WithConfigEdit(func(c *scope.Config) {
							c.ClientName = other
							c.Servers[0] = srv.URL()
						}))
					got, err := scope.Do(ctx, "", func(_ context.Context, nc *instrument.Conn) (string, error) {
						return nc.Opts.Name, nil
					}, opts...)
					if err == nil && got != other {
						err = fmt.Errorf("edited to %s, got the connection of %s", other, got)
					}
					errs <- err
				case 3: // an invalid config fails on every call, with the same error
					err := scope.Run(ctx, "", func(context.Context, *instrument.Conn) error {
						return errors.New("fn ran on an invalid config")
					}, badOpts...)
					var ce *scope.ConfigError
					switch {
					case !errors.As(err, &ce):
						errs <- fmt.Errorf("want a *scope.ConfigError, got %v", err)
					case err.Error() != badMsg:
						errs <- fmt.Errorf("got %q, want %q", err.Error(), badMsg)
					default:
						errs <- nil
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, workers*rounds, n)
	assert.Equal(t, keys, p.Len(), "one connection per config")
	assert.EqualValues(t, keys, dials.n.Load(), "each config dialed once")
	assert.Equal(t, keys, srv.NumClients())
}
