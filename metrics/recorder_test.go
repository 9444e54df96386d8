package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
)

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "nats://" + addr
}

func TestObserveChainsHandlersAndCountsReconnects(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))

	var userDisc, userRec, userClosed atomic.Int32
	nc := connect(t, s.URL(),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { userDisc.Add(1) }),
		nats.ReconnectHandler(func(*nats.Conn) { userRec.Add(1) }),
		nats.ClosedHandler(func(*nats.Conn) { userClosed.Add(1) }),
	)
	o, err := r.Observe(nc, "orders")
	require.NoError(t, err)
	again, err := r.Observe(nc, "other")
	require.NoError(t, err)
	assert.Same(t, o, again, "observing twice returns the same Observer")

	name := connName("orders")
	rm := collect(t, rd)
	v, ok := intValue(rm, semconv.MetricConnected, semconv.System, name)
	require.True(t, ok)
	assert.Equal(t, int64(1), v)
	v, _ = intValue(rm, semconv.MetricConnectionsActive, name)
	assert.Equal(t, int64(1), v)

	s.Stop()
	require.Eventually(t, func() bool {
		v, ok := intValue(collect(t, rd), semconv.MetricConnected, name)
		return ok && v == 0
	}, 5*time.Second, 10*time.Millisecond, "connected gauge drops to 0")
	require.Eventually(t, func() bool { return userDisc.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	s.Restart()
	require.Eventually(t, func() bool {
		v, ok := intValue(collect(t, rd), semconv.MetricConnected, name)
		return ok && v == 1
	}, 5*time.Second, 10*time.Millisecond, "connected gauge back to 1")
	require.Eventually(t, func() bool { return userRec.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	rm = collect(t, rd)
	v, _ = intValue(rm, semconv.MetricReconnects, name)
	assert.Equal(t, int64(1), v)
	v, _ = intValue(rm, semconv.MetricDisconnects, name)
	assert.Equal(t, int64(1), v)
	snap := r.Snapshot()
	assert.Equal(t, int64(1), snap.Reconnects)
	assert.Equal(t, int64(1), snap.Disconnects)
	require.Len(t, snap.Connections, 1)
	assert.Equal(t, "orders", snap.Connections[0].Name)
	assert.Equal(t, uint64(1), snap.Connections[0].Reconnects)

	// A deliberate Close is not a disconnect; the user's closed handler runs
	// and the Observer stops by itself.
	nc.Close()
	require.Eventually(t, func() bool { return userClosed.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return r.Snapshot().Active == 0 }, 5*time.Second, 5*time.Millisecond)
	_, found := r.Observer(nc)
	assert.False(t, found)
	rm = collect(t, rd)
	v, _ = intValue(rm, semconv.MetricDisconnects, name)
	assert.Equal(t, int64(1), v, "Close did not count a disconnect")
	assert.Equal(t, int32(2), userDisc.Load(), "user's disconnect handler also runs on Close")
	v, _ = intValue(rm, semconv.MetricConnectionsActive, name)
	assert.Equal(t, int64(0), v)
	_, ok = intValue(rm, semconv.MetricConnected, name)
	assert.False(t, ok, "observable callbacks unregistered once the connection closed")
}

func TestObserveChainsDeprecatedDisconnectHandler(t *testing.T) {
	s := natstest.RunServer(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(newMPOnly(t)))
	var called atomic.Int32
	//lint:ignore SA1019 users still set the old handler; it must keep working.
	nc := connect(t, s.URL(), nats.DisconnectHandler(func(*nats.Conn) { called.Add(1) }))
	_, err := r.Observe(nc, "old")
	require.NoError(t, err)
	s.Stop()
	require.Eventually(t, func() bool { return called.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return r.Snapshot().Disconnects == 1 }, 5*time.Second, 5*time.Millisecond)
}

func newMPOnly(t *testing.T) *sdkmetric.MeterProvider {
	mp, _ := newReader(t)
	return mp
}

func TestStatisticsMatchConnStats(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	nc := connect(t, s.URL(), nats.Name("stats"))
	_, err := r.Observe(nc, "") // name from nats.Name
	require.NoError(t, err)

	got := make(chan struct{}, 10)
	sub, err := nc.Subscribe("stats.x", func(*nats.Msg) { got <- struct{}{} })
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	for i := 0; i < 10; i++ {
		require.NoError(t, nc.Publish("stats.x", make([]byte, 100)))
	}
	require.NoError(t, nc.Flush())
	for i := 0; i < 10; i++ {
		<-got
	}

	st := nc.Stats()
	require.Equal(t, uint64(1000), st.OutBytes)
	rm := collect(t, rd)
	name := connName("stats")
	out, ok := intValue(rm, semconv.MetricSentBytes, semconv.System, name)
	require.True(t, ok)
	in, ok := intValue(rm, semconv.MetricReceivedBytes, semconv.System, name)
	require.True(t, ok)
	assert.Equal(t, int64(st.OutBytes), out)
	assert.Equal(t, int64(st.InBytes), in)

	m := find(rm, semconv.MetricSentBytes)
	require.NotNil(t, m)
	assert.Equal(t, semconv.UnitBytes, m.Unit)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok)
	assert.True(t, sum.IsMonotonic)

	snap := r.Snapshot()
	require.Len(t, snap.Connections, 1)
	assert.Equal(t, st.OutBytes, snap.Connections[0].OutBytes, "snapshot reads the same statistics")
	assert.Equal(t, st.InMsgs, snap.Connections[0].InMsgs)
}

func TestRTTSampledInBackground(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp), metrics.WithRTTInterval(20*time.Millisecond))
	nc := connect(t, s.URL())
	o, err := r.Observe(nc, "rtt")
	require.NoError(t, err)

	name := connName("rtt")
	require.Eventually(t, func() bool {
		v, ok := floatValue(collect(t, rd), semconv.MetricRTT, semconv.System, name)
		return ok && v > 0
	}, 5*time.Second, 10*time.Millisecond)
	rtt, ok := o.RTT()
	assert.True(t, ok)
	assert.Positive(t, rtt)
	m := find(collect(t, rd), semconv.MetricRTT)
	require.NotNil(t, m)
	assert.Equal(t, semconv.UnitSeconds, m.Unit)

	// With the server gone a collection still returns (it reads only the
	// last sample) and reports no RTT for a disconnected connection.
	s.Stop()
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)
	rm := collect(t, rd)
	_, ok = floatValue(rm, semconv.MetricRTT, name)
	assert.False(t, ok)

	require.NoError(t, o.Close())
	require.NoError(t, o.Close(), "Close is idempotent")
	assert.Equal(t, int64(0), r.Snapshot().Active)
}

func TestTrackPendingAndDropped(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))

	var userErrs atomic.Int32
	nc := connect(t, s.URL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			userErrs.Add(1)
		}
	}))
	o, err := r.Observe(nc, "slow")
	require.NoError(t, err)

	release := make(chan struct{})
	defer close(release)
	sub, err := nc.Subscribe("slow.x", func(*nats.Msg) { <-release })
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(5, -1))
	untrack := o.Track(sub, "slow.x")

	const n = 50
	for i := 0; i < n; i++ {
		require.NoError(t, nc.Publish("slow.x", []byte("m")))
	}
	require.NoError(t, nc.Flush())
	require.Eventually(t, func() bool {
		d, _ := sub.Dropped()
		p, _, _ := sub.Pending()
		return d > 0 && p+d == n // the message blocked in the handler still counts as pending
	}, 5*time.Second, 5*time.Millisecond)

	wantDropped, err := sub.Dropped()
	require.NoError(t, err)
	wantPending, _, err := sub.Pending()
	require.NoError(t, err)
	dest := semconv.MessagingDestinationNameKey.String("slow.x")
	rm := collect(t, rd)
	pending, ok := intValue(rm, semconv.MetricSubPending, semconv.System, connName("slow"), dest)
	require.True(t, ok)
	dropped, ok := intValue(rm, semconv.MetricSubDropped, semconv.System, connName("slow"), dest)
	require.True(t, ok)
	assert.Equal(t, int64(wantPending), pending)
	assert.Equal(t, int64(wantDropped), dropped)
	assert.Positive(t, dropped)

	require.Eventually(t, func() bool { return userErrs.Load() >= 1 }, 5*time.Second, 5*time.Millisecond,
		"user's async error handler still called")
	require.Eventually(t, func() bool { return r.Snapshot().AsyncErrors >= 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "slow_consumer", r.Snapshot().LastError)

	untrack()
	untrack()
	_, ok = intValue(collect(t, rd), semconv.MetricSubPending, dest)
	assert.False(t, ok, "untracked subscription no longer reported")
}

func TestTrackChannelAndInvalidSubscriptions(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	nc := connect(t, s.URL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	o, err := r.Observe(nc, "chan")
	require.NoError(t, err)

	// A channel subscription nobody reads: nats.go counts no pending
	// messages for it, but its dropped count is reported.
	ch := make(chan *nats.Msg, 1)
	sub, err := nc.ChanSubscribe("chan.x", ch)
	require.NoError(t, err)
	_ = o.Track(sub, "chan.x")
	for range 10 {
		require.NoError(t, nc.Publish("chan.x", []byte("m")))
	}
	require.NoError(t, nc.Flush())
	require.Eventually(t, func() bool { d, _ := sub.Dropped(); return d == 9 }, 5*time.Second, 5*time.Millisecond)
	dest := semconv.MessagingDestinationTemplateKey.String("chan.x")
	rm := collect(t, rd)
	dropped, ok := intValue(rm, semconv.MetricSubDropped, connName("chan"), dest)
	require.True(t, ok, "a channel subscription reports dropped")
	assert.EqualValues(t, 9, dropped)
	_, ok = intValue(rm, semconv.MetricSubPending, connName("chan"), dest)
	assert.False(t, ok, "no pending count for a channel subscription")

	// Unsubscribed without untrack: dropped at the next collection.
	require.NoError(t, sub.Unsubscribe())
	_, ok = intValue(collect(t, rd), semconv.MetricSubDropped, dest)
	assert.False(t, ok)

}

func TestDialSnapshotAndReset(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	ctx := context.Background()
	before := time.Now()

	const ok, bad = 3, 2
	var conns []*nats.Conn
	for i := 0; i < ok; i++ {
		nc, err := r.Dial(ctx, "api", dialer(s.URL()))
		require.NoError(t, err)
		conns = append(conns, nc)
		o, found := r.Observer(nc)
		require.True(t, found)
		assert.Equal(t, "api", o.Name())
		assert.Same(t, nc, o.Conn())
	}
	dead := deadURL(t)
	for i := 0; i < bad; i++ {
		nc, err := r.Dial(ctx, "api", dialer(dead, nats.Timeout(time.Second)))
		require.ErrorIs(t, err, nats.ErrNoServers, "dial error passes through unchanged")
		assert.Nil(t, nc)
	}

	snap := r.Snapshot()
	assert.Equal(t, int64(ok), snap.Active)
	assert.Equal(t, int64(ok), snap.Opened)
	assert.Equal(t, int64(bad), snap.Failed)
	assert.Equal(t, "no_servers", snap.LastError)
	assert.False(t, snap.LastErrorTime.Before(before))
	assert.Positive(t, snap.MinConnectTime)
	assert.LessOrEqual(t, snap.MinConnectTime, snap.AvgConnectTime)
	assert.LessOrEqual(t, snap.AvgConnectTime, snap.MaxConnectTime)
	assert.Len(t, snap.Connections, ok)
	assert.False(t, snap.Since.After(before))

	rm := collect(t, rd)
	api := attribute.NewSet(semconv.System, connName("api"))
	apiFailed := attribute.NewSet(semconv.System, connName("api"), semconv.ErrorTypeKey.String("no_servers"))
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        semconv.MetricConnectionsOpened,
		Description: "Number of NATS connections opened successfully.",
		Unit:        semconv.UnitConnection,
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[int64]{{Attributes: api, Value: ok}},
		},
	}, *find(rm, semconv.MetricConnectionsOpened), metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        semconv.MetricConnectionsFailed,
		Description: "Number of NATS connection attempts that failed.",
		Unit:        semconv.UnitConnection,
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[int64]{{Attributes: apiFailed, Value: bad}},
		},
	}, *find(rm, semconv.MetricConnectionsFailed), metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        semconv.MetricConnectionsActive,
		Description: "Number of NATS connections currently open.",
		Unit:        semconv.UnitConnection,
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality, IsMonotonic: false,
			DataPoints: []metricdata.DataPoint[int64]{{Attributes: api, Value: ok}},
		},
	}, *find(rm, semconv.MetricConnectionsActive), metricdatatest.IgnoreTimestamp())
	h, isHist := find(rm, semconv.MetricConnectDuration).Data.(metricdata.Histogram[float64])
	require.True(t, isHist)
	var count uint64
	for _, dp := range h.DataPoints {
		count += dp.Count
		assert.Equal(t, semconv.DurationBuckets(), dp.Bounds)
	}
	assert.Equal(t, uint64(ok+bad), count)

	// Reset starts a new Snapshot period; Active and the OTel counters stay.
	r.Reset()
	snap = r.Snapshot()
	assert.Equal(t, int64(ok), snap.Active)
	assert.Zero(t, snap.Opened)
	assert.Zero(t, snap.Failed)
	assert.Zero(t, snap.AvgConnectTime)
	assert.Empty(t, snap.LastError)
	v, _ := intValue(collect(t, rd), semconv.MetricConnectionsOpened, connName("api"))
	assert.Equal(t, int64(ok), v, "OTel counters are monotonic")

	nc, err := r.Dial(ctx, "api", dialer(s.URL()))
	require.NoError(t, err)
	conns = append(conns, nc)
	assert.Equal(t, int64(1), r.Snapshot().Opened, "counted since Reset")

	for _, nc := range conns {
		nc.Close()
	}
	require.Eventually(t, func() bool { return r.Snapshot().Active == 0 }, 5*time.Second, 5*time.Millisecond)
}

func TestDialEdgeCases(t *testing.T) {
	r := metrics.NewRecorder(metrics.WithMeterProvider(newMPOnly(t)))
	_, err := r.Dial(context.Background(), "x", nil)
	assert.ErrorIs(t, err, metrics.ErrNilDial)

	_, err = r.Dial(context.Background(), "x", func(context.Context) (*nats.Conn, error) { return nil, nil })
	assert.ErrorIs(t, err, metrics.ErrNilConn)
	assert.Equal(t, int64(1), r.Snapshot().Failed)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	_, err = r.Dial(ctx, "x", func(context.Context) (*nats.Conn, error) { called = true; return nil, nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, called, "a done context does not dial")
	assert.Equal(t, int64(1), r.Snapshot().Failed, "nor count")

	_, err = r.Observe(nil, "x")
	assert.ErrorIs(t, err, metrics.ErrNilConn)

	s := natstest.RunServer(t)
	nc := connect(t, s.URL())
	nc.Close()
	_, err = r.Observe(nc, "x")
	assert.ErrorIs(t, err, nats.ErrConnectionClosed)
}

func TestLameDuckThroughConnOptions(t *testing.T) {
	s := natstest.RunServer(t, func(o *server.Options) {
		o.LameDuckDuration = 500 * time.Millisecond
		o.LameDuckGracePeriod = 100 * time.Millisecond
	})
	r := metrics.NewRecorder(metrics.WithMeterProvider(newMPOnly(t)))
	var userLD atomic.Int32
	opts := append([]nats.Option{
		nats.LameDuckModeHandler(func(*nats.Conn) { userLD.Add(1) }),
		nats.MaxReconnects(0),
	}, r.ConnOptions()...)
	nc, err := r.Dial(context.Background(), "ld", dialer(s.URL(), opts...))
	require.NoError(t, err)
	defer nc.Close()

	done := make(chan struct{})
	go func() { defer close(done); s.NATS().LameDuckShutdown() }()
	require.Eventually(t, func() bool { return userLD.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return r.Snapshot().LameDuckEvents == 1 }, 5*time.Second, 5*time.Millisecond)
	<-done
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{nats.ErrTimeout, "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{nats.ErrNoServers, "no_servers"},
		{nats.ErrAuthorization, "authorization"},
		{errors.Join(errors.New("nats://user:secret@host"), nats.ErrNoResponders), "no_responders"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("no such host")}, "dial_error"},
		{&customErr{}, "*metrics_test.customErr"},
		{fmt.Errorf("dial: %w", &customErr{}), "*metrics_test.customErr"},
		// One vocabulary with the instrument pipeline: generic errors are
		// _OTHER (not *errors.errorString), JetStream errors their API code,
		// an operation's permission error has a name.
		{errors.New("nats://user:secret@host"), "_OTHER"},
		{fmt.Errorf("x: %w", errors.New("y")), "_OTHER"},
		{jetstream.ErrStreamNotFound, "10059"},
		{nats.ErrPermissionViolation, "permissions_violation"},
		{fmt.Errorf("circuit: %w", &circuit.OpenError{Name: "b"}), "circuit_open"},
	} {
		got := metrics.ErrorType(tc.err)
		assert.Equal(t, tc.want, got, "%v", tc.err)
		assert.NotContains(t, got, "secret")
	}
}

type customErr struct{}

func (*customErr) Error() string { return "custom" }

func TestObserverStopsWithoutClosedCallback(t *testing.T) {
	s := natstest.RunServer(t)

	t.Run("collection", func(t *testing.T) {
		mp, rd := newReader(t)
		r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
		nc := connect(t, s.URL(), nats.NoCallbacksAfterClientClose())
		_, err := r.Observe(nc, "quiet")
		require.NoError(t, err)
		nc.Close()
		_, ok := intValue(collect(t, rd), semconv.MetricConnected, connName("quiet"))
		assert.False(t, ok, "a closed connection is not reported")
		require.Eventually(t, func() bool {
			v, _ := intValue(collect(t, rd), semconv.MetricConnectionsActive, connName("quiet"))
			return v == 0
		}, 5*time.Second, 5*time.Millisecond)
		_, found := r.Observer(nc)
		assert.False(t, found)
	})
	t.Run("snapshot", func(t *testing.T) {
		r := metrics.NewRecorder(metrics.WithMeterProvider(newMPOnly(t)))
		nc := connect(t, s.URL(), nats.NoCallbacksAfterClientClose())
		_, err := r.Observe(nc, "quiet")
		require.NoError(t, err)
		assert.Equal(t, int64(1), r.Snapshot().Active)
		nc.Close()
		snap := r.Snapshot()
		assert.Equal(t, int64(0), snap.Active)
		assert.Empty(t, snap.Connections)
	})
	t.Run("rtt sampler", func(t *testing.T) {
		r := metrics.NewRecorder(metrics.WithMeterProvider(newMPOnly(t)), metrics.WithRTTInterval(5*time.Millisecond))
		nc := connect(t, s.URL(), nats.NoCallbacksAfterClientClose())
		_, err := r.Observe(nc, "quiet")
		require.NoError(t, err)
		nc.Close()
		require.Eventually(t, func() bool { _, found := r.Observer(nc); return !found }, 5*time.Second, 5*time.Millisecond)
	})
}

func TestRecorderConcurrentUse(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp), metrics.WithRTTInterval(time.Millisecond))
	ctx := context.Background()
	stop := make(chan struct{})
	readersDone := make(chan struct{}, 2)
	for i := 0; i < 2; i++ {
		go func(i int) {
			defer func() { readersDone <- struct{}{} }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if i == 0 {
					var rm metricdata.ResourceMetrics
					_ = rd.Collect(ctx, &rm)
				} else {
					_ = r.Snapshot()
					r.Reset()
				}
			}
		}(i)
	}
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			for i := 0; i < 10; i++ {
				nc, err := r.Dial(ctx, "conc", dialer(s.URL()))
				if err != nil {
					errs <- err
					return
				}
				if o, ok := r.Observer(nc); ok {
					untrack := o.Track(nil, "x")
					untrack()
					if i%2 == 0 {
						_ = o.Close()
					}
				}
				nc.Close()
			}
			errs <- nil
		}()
	}
	for w := 0; w < 4; w++ {
		require.NoError(t, <-errs)
	}
	close(stop)
	<-readersDone
	<-readersDone
	require.Eventually(t, func() bool { return r.Snapshot().Active == 0 }, 5*time.Second, 5*time.Millisecond)
	v, _ := intValue(collect(t, rd), semconv.MetricConnectionsActive, connName("conc"))
	assert.Equal(t, int64(0), v, "every observer decremented active exactly once")
	v, _ = intValue(collect(t, rd), semconv.MetricConnectionsOpened, connName("conc"))
	assert.Equal(t, int64(40), v)
}

func TestRecordDialThenObserve(t *testing.T) {
	s := natstest.RunServer(t)
	mp, rd := newReader(t)
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	ctx := context.Background()

	r.RecordDial(ctx, "pool", 3*time.Millisecond, nil)
	r.RecordDial(ctx, "pool", 5*time.Millisecond, nil)
	r.RecordDial(ctx, "pool", time.Millisecond, errors.Join(errors.New("scope: connect"), nats.ErrAuthorization))
	nc := connect(t, s.URL())
	_, err := r.Observe(nc, "pool")
	require.NoError(t, err)

	snap := r.Snapshot()
	assert.Equal(t, int64(2), snap.Opened)
	assert.Equal(t, int64(1), snap.Failed)
	assert.Equal(t, int64(1), snap.Active)
	assert.Equal(t, 4*time.Millisecond, snap.AvgConnectTime)
	assert.Equal(t, 3*time.Millisecond, snap.MinConnectTime)
	assert.Equal(t, 5*time.Millisecond, snap.MaxConnectTime)
	assert.Equal(t, "authorization", snap.LastError)

	rm := collect(t, rd)
	v, _ := intValue(rm, semconv.MetricConnectionsFailed, connName("pool"), semconv.ErrorTypeKey.String("authorization"))
	assert.Equal(t, int64(1), v)
	h := find(rm, semconv.MetricConnectDuration).Data.(metricdata.Histogram[float64])
	var sum float64
	for _, dp := range h.DataPoints {
		sum += dp.Sum
	}
	assert.InDelta(t, 0.009, sum, 1e-9, "the same durations feed the histogram")
}

func TestObserveChainsDiscoveredServersHandler(t *testing.T) {
	clustered := func(o *server.Options) {
		o.Cluster.Name = "naq-disco"
		o.Cluster.Host = "127.0.0.1"
		o.Cluster.Port = -1
	}
	a := natstest.RunServer(t, natstest.WithoutJetStream(), clustered,
		func(o *server.Options) { o.ServerName = "a" })
	r := metrics.NewRecorder(metrics.WithMeterProvider(newMPOnly(t)))
	var userDisco atomic.Int32
	nc := connect(t, a.URL(), nats.DiscoveredServersHandler(func(*nats.Conn) { userDisco.Add(1) }))
	_, err := r.Observe(nc, "disco")
	require.NoError(t, err)
	require.Empty(t, nc.DiscoveredServers())

	// A second server joining the cluster is announced to the client.
	route := fmt.Sprintf("nats-route://%s", a.NATS().ClusterAddr().String())
	natstest.RunServer(t, natstest.WithoutJetStream(), clustered, func(o *server.Options) {
		o.ServerName = "b"
		o.Routes = server.RoutesFromStr(route)
	})
	require.Eventually(t, func() bool { return userDisco.Load() >= 1 }, 10*time.Second, 10*time.Millisecond,
		"user's discovered-servers handler still called")
	require.Eventually(t, func() bool { return r.Snapshot().DiscoveredServersEvents >= 1 }, 5*time.Second, 5*time.Millisecond)
}
