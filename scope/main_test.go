package scope_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/scope"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs an embedded server and, at cleanup (after the pools the
// test creates later are closed), asserts the server holds no client.
func startServer(t *testing.T, opts ...natstest.Option) *natstest.Server {
	t.Helper()
	srv := natstest.RunServer(t, opts...)
	t.Cleanup(func() {
		require.Eventually(t, func() bool { return srv.NumClients() == 0 }, 5*time.Second, 10*time.Millisecond,
			"server still has %d client(s) after the test", srv.NumClients())
	})
	return srv
}

// newPool returns a pool closed at cleanup (before the client-count check,
// since cleanups run last-in first-out).
func newPool(t *testing.T, opts ...scope.PoolOption) *scope.Pool {
	t.Helper()
	p, err := scope.NewPool(opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, p.Close(ctx))
	})
	return p
}

// noEnv is an empty environment.
func noEnv(string) (string, bool) { return "", false }

// env returns a lookup over m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// cfgFor returns a valid config for srv with short timeouts.
func cfgFor(srv *natstest.Server) scope.Config {
	c := scope.DefaultConfig()
	c.Servers = []string{srv.URL()}
	c.ConnectionTimeout = 2 * time.Second
	c.DrainTimeout = 5 * time.Second
	return c
}

func waitABit() { time.Sleep(10 * time.Millisecond) }
