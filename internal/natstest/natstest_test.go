package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/naq-io/naq/internal/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServerJetStreamAndRestart(t *testing.T) {
	s := natstest.RunServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	nc, err := nats.Connect(s.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "s.1", []byte("x"))
	require.NoError(t, err)

	port := s.Port()
	s.Stop()
	assert.False(t, s.Running())
	s.Restart()
	assert.Equal(t, port, s.Port(), "restart keeps the port")

	require.Eventually(t, nc.IsConnected, 5*time.Second, 10*time.Millisecond)
	st, err := js.Stream(ctx, "S")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), info.State.Msgs, "restart keeps the store")
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start is slow")
	}
	start := time.Now()
	c := natstest.RunCluster(t, 3)
	t.Logf("cluster up after %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := nats.Connect(c.URLs())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r"}, Replicas: 3})
		return err == nil
	}, 15*time.Second, 100*time.Millisecond)
	t.Logf("stream created after %v", time.Since(start))
	c.Stop(2)
	// If node 2 led the stream (or the client was connected to it), the
	// first publishes may time out until a new leader is elected or the
	// client has reconnected: retry, each attempt bounded, until a deadline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = js.Publish(pctx, "r", []byte("x"))
		pcancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err, "R3 stream accepts writes with one node down")
	t.Logf("write accepted with one node down after %v", time.Since(start))
	c.Restart(2)
}
