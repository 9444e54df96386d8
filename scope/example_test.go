package scope_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/scope"
)

// exampleServer starts an embedded JetStream server on a free loopback port
// for the examples; stop shuts it down and removes its store.
func exampleServer() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "naq-scope-example")
	if err != nil {
		panic(err)
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		panic(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		panic("example server not ready")
	}
	return s.ClientURL(), func() {
		s.Shutdown()
		s.WaitForShutdown()
		_ = os.RemoveAll(dir)
	}
}

// Run scopes a pooled connection to a closure: it is released when the
// closure returns, fails or panics, and reused by the next scope.
func ExampleRun() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	defer scope.Shutdown(ctx) // drain the default pool before exiting

	for i := 0; i < 3; i++ {
		err := scope.Run(ctx, url, func(ctx context.Context, nc *instrument.Conn) error {
			return nc.Publish("greetings", []byte("hello"))
		})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
	}
	fmt.Println("pooled connections:", scope.DefaultPool().Len())
	// Output: pooled connections: 1
}

// Open returns a scope to close yourself; Do returns a value from the
// closure.
func ExampleOpen() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	defer scope.Shutdown(ctx)

	s, err := scope.Open(ctx, url, scope.WithClientName("orders-service"))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer s.Close(ctx)
	fmt.Println("connected:", s.Conn().IsConnected())

	n, err := scope.Do(ctx, url, func(ctx context.Context, nc *instrument.Conn) (int, error) {
		return len(nc.Servers()), nil
	})
	fmt.Println("servers known:", n, err)
	// Output:
	// connected: true
	// servers known: 1 <nil>
}

// RawConn is the escape hatch: the pooled *nats.Conn itself, for code that
// must have one. Calls made on it are not traced, metered or gated. Inside
// Run's closure, nc.Conn() is the same connection.
func ExampleScope_RawConn() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	defer scope.Shutdown(ctx)

	s, err := scope.Open(ctx, url)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer s.Close(ctx)
	var raw *nats.Conn = s.RawConn()
	fmt.Println("the instrumented handle wraps it:", s.Conn().Conn() == raw)
	// Output: the instrumented handle wraps it: true
}

// JetStream hands the pooled connection's JetStream handle to a closure;
// DoJetStream returns a value.
func ExampleJetStream() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	defer scope.Shutdown(ctx)

	err := scope.JetStream(ctx, url, func(ctx context.Context, js jetstream.JetStream) error {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
		return err
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	seq, err := scope.DoJetStream(ctx, url, func(ctx context.Context, js jetstream.JetStream) (uint64, error) {
		ack, err := js.Publish(ctx, "orders.created", []byte(`{"id":1}`))
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	})
	fmt.Println("stored at sequence", seq, err)
	// Output: stored at sequence 1 <nil>
}

// KeyValue binds a bucket and hands it to a closure; DoKeyValue returns a
// value. Errors such as jetstream.ErrKeyNotFound come back unchanged.
func ExampleKeyValue() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	defer scope.Shutdown(ctx)

	_ = scope.JetStream(ctx, url, func(ctx context.Context, js jetstream.JetStream) error {
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "settings"})
		return err
	})
	err := scope.KeyValue(ctx, url, "settings", func(ctx context.Context, kv jetstream.KeyValue) error {
		_, err := kv.PutString(ctx, "theme", "dark")
		return err
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	theme, err := scope.DoKeyValue(ctx, url, "settings", func(ctx context.Context, kv jetstream.KeyValue) (string, error) {
		e, err := kv.Get(ctx, "theme")
		if err != nil {
			return "", err
		}
		return string(e.Value()), nil
	})
	fmt.Println("theme:", theme, err)
	// Output: theme: dark <nil>
}

// Health reports the server and the round trip; WaitReady polls it until
// the server answers or the deadline passes.
func ExampleWaitReady() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer scope.Shutdown(context.Background())

	r, err := scope.WaitReady(ctx, url)
	if err != nil {
		fmt.Println("not ready:", err)
		return
	}
	fmt.Println("jetstream:", r.JetStream, "version known:", r.ServerVersion != "")
	// Output: jetstream: true version known: true
}

// Load layers defaults, a YAML file, a profile, NAQ_* variables and explicit
// options; printing the result never shows secrets.
func ExampleLoad() {
	f, _ := os.CreateTemp("", "naq-*.yaml")
	defer os.Remove(f.Name())
	_, _ = f.WriteString(`
nats:
  servers: ["nats://dev:4222"]
  reconnect_time_wait: 2.5   # seconds
profiles:
  prod:
    servers: ["nats://prod-1:4222", "nats://prod-2:4222"]
    drain_timeout: 1m
`)
	_ = f.Close()
	environ := map[string]string{"NAQ_PROFILE": "prod", "NAQ_AUTH_USER": "svc", "NAQ_AUTH_PASSWORD": "hunter2"}
	cfg, err := scope.Load(
		scope.WithConfigFile(f.Name()),
		scope.WithLookupEnv(func(k string) (string, bool) { v, ok := environ[k]; return v, ok }),
		scope.WithClientName("billing"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Servers, cfg.ReconnectTimeWait, cfg.DrainTimeout, cfg.ClientName)
	fmt.Println(cfg.Auth)
	// Output:
	// [nats://prod-1:4222 nats://prod-2:4222] 2.5s 1m0s billing
	// {user:"svc" password:"REDACTED" token:"" nkey_seed_file:"" creds_file:""}
}

// Validation names the field, the bad value and what is allowed.
func ExampleConfigError() {
	_, err := scope.Load(scope.WithLookupEnv(func(k string) (string, bool) {
		if k == "NAQ_MAX_RECONNECT" {
			return "lots", true
		}
		return "", false
	}))
	fmt.Println(err)
	// Output: scope: invalid config: nats.max_reconnect_attempts="lots" (env NAQ_MAX_RECONNECT): allowed: an integer >= -1 (-1 = reconnect forever)
}

// Retry reruns a function with backoff and jitter; permanent errors such as
// authorization failures stop it at once.
func ExampleRetry() {
	attempts := 0
	err := scope.Retry(context.Background(), scope.RetryPolicy{
		MaxRetries: 3, InitialDelay: time.Millisecond, BackoffFactor: 2, Jitter: 0.2,
	}, func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			return nats.ErrNoServers
		}
		return nil
	})
	fmt.Println(attempts, err)
	// Output: 3 <nil>
}

// A Limiter caps concurrent scopes; WithLimiter applies it to the helpers.
func ExampleLimiter() {
	lim, _ := scope.NewLimiter(2)
	release, _ := lim.Acquire(context.Background())
	fmt.Println(lim.InUse(), "of", lim.Max())
	release()
	fmt.Println(lim.InUse(), "of", lim.Max())
	// Output:
	// 1 of 2
	// 0 of 2
}

// NewPool keeps connections of its own, one per distinct config, shared by
// every scope of that config, and reports them to its own Recorder. Close
// drains them all; the pool refuses use afterwards.
func ExampleNewPool() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	pool, err := scope.NewPool()
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	opts := []scope.Option{scope.WithPool(pool), scope.WithLookupEnv(nil)}
	for i := 0; i < 3; i++ {
		err := scope.Run(ctx, url, func(ctx context.Context, nc *instrument.Conn) error {
			return nc.Publish("greetings", []byte("hello"))
		}, opts...)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
	}
	fmt.Println("connections:", pool.Len(), "dials:", pool.Recorder().Snapshot().Opened)
	fmt.Println("close:", pool.Close(ctx))
	_, err = scope.Open(ctx, url, opts...)
	fmt.Println("after close:", errors.Is(err, scope.ErrPoolClosed))
	// Output:
	// connections: 1 dials: 1
	// close: <nil>
	// after close: true
}

// Run hands the closure the pooled connection's instrumented handle: its
// publishes, requests and subscriptions are traced, metered and gated by
// the connection's gate.
func ExampleRun_subscribe() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	defer scope.Shutdown(ctx)

	err := scope.Run(ctx, url, func(ctx context.Context, c *instrument.Conn) error {
		sub, err := c.SubscribeSync("greetings")
		if err != nil {
			return err
		}
		if err := c.PublishContext(ctx, "greetings", []byte("hello")); err != nil {
			return err
		}
		m, err := c.NextMsg(sub, 5*time.Second)
		if err != nil {
			return err
		}
		fmt.Println("received:", string(m.Data))
		return sub.Unsubscribe()
	})
	fmt.Println("err:", err)
	// Output:
	// received: hello
	// err: <nil>
}

// NewHealthChecker checks a server every interval in one goroutine between
// Start and Stop; Check runs one check now.
func ExampleNewHealthChecker() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	defer scope.Shutdown(ctx)

	hc, err := scope.NewHealthChecker(url, time.Minute, scope.WithLookupEnv(nil))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	if err := hc.Start(ctx); err != nil {
		fmt.Println("error:", err)
		return
	}
	defer hc.Stop()
	r := hc.Check(ctx)
	fmt.Println("healthy:", r.Err == nil, "jetstream:", r.Report.JetStream)
	fmt.Println("start again:", hc.Start(ctx))
	// Output:
	// healthy: true jetstream: true
	// start again: scope: health checker already started
}

// CheckEnv finds NAQ_* variables that Load does not read, such as a
// misspelt name, which Load ignores.
func ExampleCheckEnv() {
	environ := []string{"NAQ_NATS_URL=nats://localhost:4222", "NAQ_MAX_RECONECT=10", "HOME=/home/me"}
	var ce *scope.ConfigError
	if err := scope.CheckEnv(environ); errors.As(err, &ce) {
		fmt.Println(ce.Field, "is ignored;", ce.Suggestion)
	}
	// Output: NAQ_MAX_RECONECT is ignored; did you mean "NAQ_MAX_RECONNECT"?
}
