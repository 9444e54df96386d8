package scope_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/scope"
)

func benchServer(b *testing.B) *natstest.Server {
	b.Helper()
	srv := natstest.RunServer(b)
	b.Cleanup(func() {
		// The server notices closed clients asynchronously.
		for i := 0; i < 500 && srv.NumClients() != 0; i++ {
			waitABit()
		}
		if n := srv.NumClients(); n != 0 {
			b.Errorf("server still has %d client(s)", n)
		}
	})
	return srv
}

func benchPool(b *testing.B) *scope.Pool {
	b.Helper()
	p, err := scope.NewPool()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return p
}

// BenchmarkAcquirePooled acquires and releases a scope on a warm pool: what
// a scoped helper costs once the pooled connection exists. Compare with
// BenchmarkConnectClose in the same run.
func BenchmarkAcquirePooled(b *testing.B) {
	srv := benchServer(b)
	p := benchPool(b)
	ctx := context.Background()
	cfg := cfgFor(srv)
	warm, err := p.Acquire(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := warm.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := p.Acquire(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunPooled is the package-level helper on a warm pool with a
// preloaded config (config clone and validation included).
func BenchmarkRunPooled(b *testing.B) {
	srv := benchServer(b)
	p := benchPool(b)
	ctx := context.Background()
	opts := []scope.Option{scope.WithPool(p), scope.WithConfig(cfgFor(srv))}
	fn := func(context.Context, *instrument.Conn) error { return nil }
	if err := scope.Run(ctx, "", fn, opts...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := scope.Run(ctx, "", fn, opts...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnectClose is the raw nats.go baseline: a fresh connection per
// use, on the same embedded server.
func BenchmarkConnectClose(b *testing.B) {
	srv := benchServer(b)
	url := srv.URL()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		nc, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		nc.Close()
	}
}
