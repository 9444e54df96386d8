package metrics

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/naq-io/naq/internal/natstest"
)

// Short-lived subscriptions that are never untracked, on a connection whose
// metrics are never collected, do not pile up in the Observer.
func TestTrackDropsInvalidSubscriptions(t *testing.T) {
	s := natstest.RunServer(t)
	r := NewRecorder(WithMeterProvider(noop.NewMeterProvider()))
	nc, err := nats.Connect(s.URL())
	require.NoError(t, err)
	defer nc.Close()
	o, err := r.Observe(nc, "short")
	require.NoError(t, err)
	live, err := nc.SubscribeSync("live")
	require.NoError(t, err)
	o.Track(live, "live")
	for i := range 1000 {
		sub, err := nc.SubscribeSync(fmt.Sprintf("short.%d", i))
		require.NoError(t, err)
		o.Track(sub, "short")
		require.NoError(t, sub.Unsubscribe())
	}
	o.mu.Lock()
	n := len(o.subs)
	_, hasLive := o.subs[live]
	o.mu.Unlock()
	assert.LessOrEqual(t, n, minSweep+1)
	assert.True(t, hasLive, "a valid subscription stays tracked")
}
