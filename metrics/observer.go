package metrics

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/naq-io/naq/internal/connevents"
	"github.com/naq-io/naq/internal/semconv"
)

// Observer watches one connection for a [Recorder]: it chains the
// connection's event handlers, registers the observable instruments
// (connected, rtt, sent/received bytes, subscription pending/dropped) for it,
// and samples the round-trip time in a background goroutine so that a metric
// collection never waits on the network.
//
// An Observer stops by itself when its connection closes (from the chained
// closed handler; if nats.go runs no closed handler, as with
// nats.NoCallbacksAfterClientClose, at the next RTT sample, metric collection
// or [Recorder.Snapshot]); [Observer.Close] stops it earlier. Stopping unregisters its metric callbacks, ends the RTT
// goroutine and decrements the active-connections gauge exactly once. The
// chained handlers stay installed but only pass events through to the user's
// handlers once stopped. An Observer is safe for concurrent use.
//
// Lock discipline: nats.go runs a sync or channel subscription's closed
// handler, and with it the untrack func of [Observer.Track], while it holds
// the connection's and the subscription's locks. So the Observer never calls
// nats.go while holding its own mutex: collection and Track's sweep copy the
// tracked subscriptions under it, release it, query nats.go, and re-lock only
// to drop the subscriptions found invalid. Untrack only takes the mutex for a
// map delete.
//
// The async-error listener runs on nats.go's callback goroutine and takes
// no lock that collection holds: it finds a subscription's template in a
// sync.Map mirror of the tracked subscriptions and reads the stopped state
// from an atomic.
type Observer struct {
	r    *Recorder
	nc   *nats.Conn
	name string
	set  attribute.Set
	mset metric.MeasurementOption

	reg    metric.Registration
	cancel context.CancelFunc
	done   chan struct{} // closed when the RTT goroutine exits

	rttNanos atomic.Int64 // last successful RTT sample; 0 = none
	rttOK    atomic.Bool  // whether the most recent sample succeeded
	reaping  atomic.Bool  // a stop was scheduled after seeing the conn closed
	halted   atomic.Bool  // mirrors stopped, for the event listeners

	// tracked mirrors subs (written under mu, read without it) for the
	// async-error listener: *nats.Subscription → *trackedSub.
	tracked   sync.Map
	slowOther metric.AddOption // slow_consumers of an untracked subscription

	// mu guards the fields below. It is never held across a call into
	// nats.go, the OTel SDK or user code (see the type's doc).
	mu       sync.Mutex
	stopped  bool
	subs     map[*nats.Subscription]*trackedSub
	sweepAt  int  // len(subs) at which Track drops invalid subscriptions
	sweeping bool // a Track is sweeping (outside mu)
}

// trackedSub is one [Observer.Track] registration: the measurement option
// carrying its attribute set, built once. Entries are compared by pointer,
// so a late delete never removes a newer registration of the same
// subscription.
type trackedSub struct {
	opt metric.MeasurementOption
	add metric.AddOption // the same set, for nats.client.slow_consumers
}

// subEntry is a (subscription, registration) pair copied out of
// Observer.subs, to query nats.go without holding Observer.mu.
type subEntry struct {
	sub *nats.Subscription
	ts  *trackedSub
}

// Observe starts observing a connection that was dialled without
// [Recorder.Dial]: it chains the disconnect, reconnect, closed, async error
// and discovered-servers handlers currently set on nc (the user's handlers
// still run, after the Recorder has counted the event), increments the
// active-connections gauge, registers the observable instruments and starts
// the background RTT sampler (interval: [WithRTTInterval], default the
// connection's ping interval). For lame-duck events append
// [Recorder.ConnOptions] to the connect options.
//
// name is the low-cardinality nats.connection.name attribute; when empty the
// connection's own name (nats.Name) is used, and when that is empty too the
// attribute is omitted. Observing a connection that is already observed
// returns the existing Observer. It returns [ErrNilConn] for a nil nc and
// nats.ErrConnectionClosed for a closed one.
//
// Handlers set on nc after Observe (nc.SetClosedHandler, ...) replace the
// chain and stop the corresponding counting; set them before.
func (r *Recorder) Observe(nc *nats.Conn, name string) (*Observer, error) {
	if nc == nil {
		return nil, ErrNilConn
	}
	if nc.IsClosed() {
		return nil, nats.ErrConnectionClosed
	}
	if name == "" {
		name = nc.Opts.Name
	}
	r.mu.Lock()
	if o, ok := r.observers[nc]; ok {
		r.mu.Unlock()
		return o, nil
	}
	set := r.attrSetLocked(name)
	ctx, cancel := context.WithCancel(context.Background())
	o := &Observer{
		r:      r,
		nc:     nc,
		name:   name,
		set:    set,
		mset:   metric.WithAttributeSet(set),
		cancel: cancel,
		done:   make(chan struct{}),
		subs:   make(map[*nats.Subscription]*trackedSub),
	}
	o.slowOther = metric.WithAttributeSet(destinationSet(set, semconv.OtherValue))
	r.observers[nc] = o
	observing.LoadOrStore(nc, o)
	r.mu.Unlock()

	r.addActive(set, 1)
	in := r.inst
	reg, err := r.meter.RegisterCallback(o.observe,
		in.Connected, in.RTT, in.SentBytes, in.ReceivedBytes,
		in.SubscriptionPending, in.SubscriptionDropped)
	if err != nil {
		otel.Handle(err)
	}
	o.mu.Lock()
	if o.stopped {
		// Closed concurrently (Observer.Close, Snapshot): stop found no
		// registration to remove.
		o.mu.Unlock()
		if reg != nil {
			if err := reg.Unregister(); err != nil {
				otel.Handle(err)
			}
		}
	} else {
		o.reg = reg
		o.mu.Unlock()
	}

	o.chain()
	go o.sampleRTT(ctx, r.rttInterval(nc))

	// The connection may have closed before the closed handler was chained.
	if nc.IsClosed() {
		o.stop()
	}
	return o, nil
}

func (r *Recorder) rttInterval(nc *nats.Conn) time.Duration {
	if r.cfg.rttInterval > 0 {
		return r.cfg.rttInterval
	}
	if nc.Opts.PingInterval > 0 {
		return nc.Opts.PingInterval
	}
	return defaultPingInterval
}

// chain wraps the handlers currently installed on the connection.
func (o *Observer) chain() {
	connevents.Chain(o.nc, connevents.Handlers{
		Disconnected: func(_ *nats.Conn, err error) { o.event(evDisconnect, err) },
		Reconnected:  func(*nats.Conn) { o.event(evReconnect, nil) },
		AsyncError:   func(_ *nats.Conn, sub *nats.Subscription, err error) { o.asyncError(sub, err) },
		Discovered:   func(*nats.Conn) { o.event(evDiscovered, nil) },
		Closed:       func(*nats.Conn) { o.stop() },
	})
}

// event counts a connection event unless the Observer has stopped.
func (o *Observer) event(ev event, err error) {
	if !o.halted.Load() {
		o.r.recordEvent(ev, o.set, err)
	}
}

// asyncError counts an async error, and a nats.ErrSlowConsumer in
// nats.client.slow_consumers under the template the subscription was
// tracked with ([OtherValue] when it is not tracked). It runs on nats.go's
// callback goroutine and waits for no lock collection can hold.
func (o *Observer) asyncError(sub *nats.Subscription, err error) {
	if o.halted.Load() {
		return
	}
	if errors.Is(err, nats.ErrSlowConsumer) {
		opt := o.slowOther
		if sub != nil {
			if v, ok := o.tracked.Load(sub); ok {
				opt = v.(*trackedSub).add
			}
		}
		o.r.inst.SlowConsumers.Add(context.Background(), 1, opt)
	}
	o.r.recordEvent(evAsyncError, o.set, err)
}

// sampleRTT measures the round trip now and then every interval until ctx
// ends. Collections read the last sample; they never touch the network.
// When it finds the connection closed (its closed handler did not run, e.g.
// with nats.NoCallbacksAfterClientClose) it stops the Observer.
func (o *Observer) sampleRTT(ctx context.Context, interval time.Duration) {
	if o.loop(ctx, interval) {
		o.stop()
	}
}

// loop returns true when it ended because the connection closed.
func (o *Observer) loop(ctx context.Context, interval time.Duration) bool {
	defer close(o.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if o.nc.IsClosed() {
			return o.reaping.CompareAndSwap(false, true)
		}
		o.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// reapIfClosed schedules a stop when the connection closed without its
// closed handler running; it reports whether the connection is closed.
func (o *Observer) reapIfClosed() bool {
	if !o.nc.IsClosed() {
		return false
	}
	if o.reaping.CompareAndSwap(false, true) {
		// Not inline: stop unregisters the metric callback, which must not
		// happen from inside a collection.
		go o.stop()
	}
	return true
}

func (o *Observer) sampleOnce(ctx context.Context) {
	if !o.nc.IsConnected() {
		o.rttOK.Store(false)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, o.r.cfg.rttTimeout)
	defer cancel()
	start := time.Now()
	err := o.nc.FlushWithContext(sctx)
	rtt := time.Since(start)
	if err != nil {
		o.rttOK.Store(false)
		return
	}
	if rtt <= 0 {
		rtt = time.Nanosecond
	}
	o.rttNanos.Store(int64(rtt))
	o.rttOK.Store(true)
}

// observe is the metric callback: it reads only local state (nats.go
// statistics and status, subscription counters, the last RTT sample). It
// calls nats.go without holding o.mu: the tracked subscriptions are copied
// under it first.
func (o *Observer) observe(_ context.Context, ob metric.Observer) error {
	if o.reapIfClosed() {
		return nil
	}
	in := o.r.inst
	connected := int64(0)
	if o.nc.IsConnected() {
		connected = 1
	}
	ob.ObserveInt64(in.Connected, connected, o.mset)
	if o.rttOK.Load() && connected == 1 {
		ob.ObserveFloat64(in.RTT, time.Duration(o.rttNanos.Load()).Seconds(), o.mset)
	}
	st := o.nc.Stats()
	ob.ObserveInt64(in.SentBytes, clampInt64(st.OutBytes), o.mset)
	ob.ObserveInt64(in.ReceivedBytes, clampInt64(st.InBytes), o.mset)

	var invalid []subEntry
	for _, e := range o.trackedSubs() {
		if !e.sub.IsValid() {
			// Unsubscribed, drained or closed: stop reporting it.
			invalid = append(invalid, e)
			continue
		}
		// nats.go counts no pending messages for channel subscriptions
		// (Pending fails with nats.ErrTypeSubscription): only their
		// dropped count is reported.
		if msgs, _, err := e.sub.Pending(); err == nil {
			ob.ObserveInt64(in.SubscriptionPending, int64(msgs), e.ts.opt)
		}
		if dropped, err := e.sub.Dropped(); err == nil {
			ob.ObserveInt64(in.SubscriptionDropped, int64(dropped), e.ts.opt)
		}
	}
	if len(invalid) > 0 {
		o.mu.Lock()
		o.dropLocked(invalid)
		o.mu.Unlock()
	}
	return nil
}

// trackedSubs copies the tracked subscriptions under o.mu.
func (o *Observer) trackedSubs() []subEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.copyLocked()
}

func (o *Observer) copyLocked() []subEntry {
	subs := make([]subEntry, 0, len(o.subs))
	for sub, ts := range o.subs {
		subs = append(subs, subEntry{sub, ts})
	}
	return subs
}

// dropLocked deletes the given entries that the map still holds (an entry
// untracked or tracked again since it was copied is left alone). o.mu must
// be held.
func (o *Observer) dropLocked(entries []subEntry) {
	for _, e := range entries {
		if o.subs[e.sub] == e.ts {
			delete(o.subs, e.sub)
			o.tracked.CompareAndDelete(e.sub, e.ts)
		}
	}
}

// minSweep is the number of tracked subscriptions above which Track first
// drops the ones no longer valid.
const minSweep = 64

// sweep drops the subscriptions of subs (copied under o.mu by Track, which
// set o.sweeping) that are no longer valid, so that the set stays bounded by
// the live subscriptions even when metrics are never collected. Track calls
// it when the set has doubled since the last sweep (amortised O(1) per
// Track), one sweep at a time. It queries nats.go without holding o.mu.
func (o *Observer) sweep(subs []subEntry) {
	invalid := subs[:0]
	for _, e := range subs {
		if !e.sub.IsValid() {
			invalid = append(invalid, e)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropLocked(invalid)
	o.sweepAt = max(minSweep, 2*len(o.subs))
	o.sweeping = false
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// Track reports sub's pending messages (nats.client.subscription.pending) and
// its cumulative dropped count (nats.client.subscription.dropped) with the
// connection's attributes plus messaging.destination.name and
// messaging.destination.template, both set to destination (as the instrument
// pipeline does), and counts its slow-consumer events
// (nats.client.slow_consumers) under the same attributes. The Observer
// counts every nats.ErrSlowConsumer its connection reports: those of a
// subscription that is not tracked go under the destination "_OTHER".
// destination must be a low-cardinality subject template (never a raw
// subject with ids or a reply inbox). Tracking stops when untrack is called,
// when the subscription becomes invalid (unsubscribed, drained, connection
// closed; checked at every collection and, once many subscriptions are
// tracked, by Track itself) or when the Observer stops. For a channel
// subscription nats.go counts no pending messages: only dropped is
// reported. A nil sub is ignored. Tracking sub again replaces its
// destination; only the latest untrack then stops it. untrack is idempotent,
// never calls nats.go and holds the Observer's lock only for a map delete,
// so it may run from the subscription's closed handler (which nats.go calls
// under its own locks). Its signature fits instrument.WithSubscriptionTracker,
// which tracks every subscription an instrumented connection makes.
func (o *Observer) Track(sub *nats.Subscription, destination string) (untrack func()) {
	if sub == nil {
		return func() {}
	}
	set := destinationSet(o.set, destination)
	ts := &trackedSub{opt: metric.WithAttributeSet(set), add: metric.WithAttributeSet(set)}
	var sweep []subEntry
	o.mu.Lock()
	if !o.stopped {
		o.subs[sub] = ts
		o.tracked.Store(sub, ts)
		if !o.sweeping && len(o.subs) > max(o.sweepAt, minSweep) {
			o.sweeping = true
			sweep = o.copyLocked()
		}
	}
	o.mu.Unlock()
	if sweep != nil {
		o.sweep(sweep)
	}
	return func() {
		o.mu.Lock()
		if o.subs[sub] == ts {
			delete(o.subs, sub)
			o.tracked.CompareAndDelete(sub, ts)
		}
		o.mu.Unlock()
	}
}

// destinationSet is the connection's set plus messaging.destination.name
// and messaging.destination.template, both destination.
func destinationSet(conn attribute.Set, destination string) attribute.Set {
	return attribute.NewSet(append(conn.ToSlice(),
		semconv.MessagingDestinationNameKey.String(destination),
		semconv.MessagingDestinationTemplateKey.String(destination))...)
}

// observing maps every connection observed by any Recorder to its first
// Observer, for [ObserverOf].
var observing sync.Map // *nats.Conn → *Observer

// ObserverOf returns the Observer watching nc for any [Recorder] (the first
// one, when several observe it), so that code wrapping a connection can tell
// whether its connection metrics are already reported (a scope pool observes
// every connection it dials) instead of reporting them twice.
func ObserverOf(nc *nats.Conn) (*Observer, bool) {
	if nc == nil {
		return nil, false
	}
	v, ok := observing.Load(nc)
	if !ok {
		return nil, false
	}
	return v.(*Observer), true
}

// Conn returns the observed connection.
func (o *Observer) Conn() *nats.Conn { return o.nc }

// Name returns the nats.connection.name attribute value ("" when omitted).
func (o *Observer) Name() string { return o.name }

// RTT returns the last round-trip time sampled in the background and whether
// the most recent sample succeeded. It never touches the network.
func (o *Observer) RTT() (time.Duration, bool) {
	return time.Duration(o.rttNanos.Load()), o.rttOK.Load()
}

// Close stops the Observer: it unregisters the metric callbacks, stops and
// waits for the RTT goroutine, and decrements the active-connections gauge
// (once, whether the connection closed first or not). The connection itself
// is left open. Close is idempotent and always returns nil.
func (o *Observer) Close() error {
	o.stop()
	return nil
}

func (o *Observer) stop() {
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		<-o.done
		return
	}
	o.stopped = true
	o.halted.Store(true)
	reg := o.reg
	o.reg = nil
	clear(o.subs)
	o.tracked.Clear()
	o.mu.Unlock()

	o.cancel()
	<-o.done
	if reg != nil {
		if err := reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
	r := o.r
	r.mu.Lock()
	if r.observers[o.nc] == o {
		delete(r.observers, o.nc)
		observing.CompareAndDelete(o.nc, o)
	}
	r.mu.Unlock()
	r.addActive(o.set, -1)
}
