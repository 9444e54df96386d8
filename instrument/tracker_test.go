package instrument

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/semconv"
)

// recTracker records tracked subscriptions and untrack calls.
type recTracker struct {
	mu       sync.Mutex
	tracked  map[*nats.Subscription]string
	untracks map[*nats.Subscription]int
}

func newRecTracker() *recTracker {
	return &recTracker{tracked: map[*nats.Subscription]string{}, untracks: map[*nats.Subscription]int{}}
}

func (r *recTracker) track(sub *nats.Subscription, dest string) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tracked[sub] = dest
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.untracks[sub]++
	}
}

func (r *recTracker) dest(sub *nats.Subscription) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.tracked[sub]
	return d, ok
}

func (r *recTracker) untracked(sub *nats.Subscription) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.untracks[sub]
}

func TestSubscriptionTracker(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	noTel := []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(noop.NewMeterProvider())}
	for name, base := range map[string][]Option{"telemetry": tel.opts(), "telemetry off": noTel} {
		t.Run(name, func(t *testing.T) {
			rt := newRecTracker()
			nc := connect(t, srv)
			c := NewConn(nc, append(base, WithSubscriptionTracker(rt.track),
				WithFilter(func(op, dest string) bool { return dest != "skip.me" }))...)
			ch := make(chan *nats.Msg, 4)
			subs := map[string]func() (*nats.Subscription, error){
				"sub.*.a": func() (*nats.Subscription, error) { return c.Subscribe("sub.*.a", func(*nats.Msg) {}) },
				"qsub":    func() (*nats.Subscription, error) { return c.QueueSubscribe("qsub", "q", func(*nats.Msg) {}) },
				"ctxsub": func() (*nats.Subscription, error) {
					return c.SubscribeContext("ctxsub", func(context.Context, *nats.Msg) {})
				},
				"qctxsub": func() (*nats.Subscription, error) {
					return c.QueueSubscribeContext("qctxsub", "q", func(context.Context, *nats.Msg) {})
				},
				"chansub":     func() (*nats.Subscription, error) { return c.ChanSubscribe("chansub", ch) },
				"qchansub":    func() (*nats.Subscription, error) { return c.ChanQueueSubscribe("qchansub", "q", ch) },
				"syncsub":     func() (*nats.Subscription, error) { return c.SubscribeSync("syncsub") },
				"qsyncsub":    func() (*nats.Subscription, error) { return c.QueueSubscribeSync("qsyncsub", "q") },
				"_INBOX.abcd": func() (*nats.Subscription, error) { return c.SubscribeSync("_INBOX.abcd") },
			}
			for subj, mk := range subs {
				sub, err := mk()
				require.NoError(t, err, subj)
				d, ok := rt.dest(sub)
				require.True(t, ok, "%s tracked", subj)
				want := subj
				if subj == "_INBOX.abcd" {
					want = "_INBOX" // the template, never the raw inbox
				}
				assert.Equal(t, want, d, subj)
				assert.Zero(t, rt.untracked(sub), subj)
				// Unsubscribe, or drain half of them: untracked once.
				if len(subj)%2 == 0 {
					require.NoError(t, sub.Unsubscribe())
				} else {
					require.NoError(t, sub.Drain())
				}
				require.Eventually(t, func() bool { return rt.untracked(sub) == 1 }, 5*time.Second, 5*time.Millisecond, subj)
			}

			// Filtered subscriptions are not tracked.
			skipped, err := c.Subscribe("skip.me", func(*nats.Msg) {})
			require.NoError(t, err)
			_, ok := rt.dest(skipped)
			assert.False(t, ok)

			// Closing the connection untracks what is left.
			open, err := c.Subscribe("open", func(*nats.Msg) {})
			require.NoError(t, err)
			openSync, err := c.SubscribeSync("open.sync")
			require.NoError(t, err)
			nc.Close()
			require.Eventually(t, func() bool { return rt.untracked(open) == 1 && rt.untracked(openSync) == 1 },
				5*time.Second, 5*time.Millisecond)
		})
	}
}

func TestSubscriptionTrackerPanics(t *testing.T) {
	srv := runServer(t)
	nc := connect(t, srv)
	c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(noop.NewMeterProvider()),
		WithSubscriptionTracker(func(*nats.Subscription, string) func() { panic("boom") }))
	sub, err := c.Subscribe("x", func(*nats.Msg) {})
	require.NoError(t, err, "a panicking tracker never fails the subscribe")
	require.NoError(t, sub.Unsubscribe())

	c = NewConn(nc, WithSubscriptionTracker(func(*nats.Subscription, string) func() { return func() { panic("boom") } }))
	sub, err = c.SubscribeSync(semconv.OpProcess)
	require.NoError(t, err)
	require.NoError(t, sub.Unsubscribe(), "a panicking untrack never fails the unsubscribe")
}
