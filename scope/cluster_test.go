package scope_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/scope"
)

func TestPooledConnectionFailsOverInACluster(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	t.Cleanup(func() {
		for _, s := range c.Servers {
			require.Eventually(t, func() bool { return s.NumClients() == 0 }, 5*time.Second, 10*time.Millisecond)
		}
	})
	p := newPool(t)
	ctx := context.Background()
	s, err := scope.Open(ctx, "", scope.WithPool(p), scope.WithLookupEnv(env(map[string]string{
		"NAQ_NATS_URL": c.URLs(), "NAQ_RECONNECT_TIME_WAIT": "50ms", "NAQ_MAX_RECONNECT": "-1"})))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(ctx)) }()
	require.Len(t, s.Config().Servers, 3)

	r, err := s.Health(ctx)
	require.NoError(t, err)
	first := r.ConnectedURL
	for i, srv := range c.Servers {
		if srv.URL() == first {
			c.Stop(i)
			defer c.Restart(i)
		}
	}
	// The report carries the connected URL even when the JetStream probe
	// fails: if the stopped server led the JetStream meta group, account
	// info errors until a new leader is elected, which is not what this
	// step checks.
	require.Eventually(t, func() bool {
		r, _ := s.Health(ctx)
		return r.ConnectedURL != "" && r.ConnectedURL != first
	}, 15*time.Second, 20*time.Millisecond, "the pooled connection moved to another server")
	var last error
	require.Eventually(t, func() bool {
		r, last = scope.Health(ctx, c.URLs(), scope.WithPool(p), scope.WithLookupEnv(noEnv))
		return last == nil
	}, 20*time.Second, 50*time.Millisecond, "JetStream answers again after a new meta leader")
	assert.True(t, r.JetStream)
}
