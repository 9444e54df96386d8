package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
)

// Recorder is the one source of truth for connection metrics. Every event it
// sees (a dial, a disconnect, a reconnect, ...) is recorded at one place into
// both its OpenTelemetry instruments and the counters behind [Recorder.Snapshot],
// so the exported metrics and the snapshot always agree.
//
// Use one Recorder per process (or per connection pool). Connections enter it
// through [Recorder.Dial] (which also times the connect) or [Recorder.Observe]
// (for a connection dialled elsewhere). A Recorder is safe for concurrent use
// and needs no Close: the goroutines and metric registrations it creates
// belong to the [Observer]s and end with their connections.
type Recorder struct {
	cfg   config
	meter metric.Meter
	inst  *meters.Connection

	// activeMu makes the Snapshot count and the OTel up-down counter move
	// together, so a reader never sees one updated without the other.
	activeMu sync.Mutex
	active   int64 // connections currently observed; never reset

	mu        sync.Mutex
	stats     counters
	observers map[*nats.Conn]*Observer
	attrs     map[string]attribute.Set // connection name → {system, name}
	stab      semconv.Stability        // OTEL_SEMCONV_STABILITY_OPT_IN, read once here
}

// counters are the snapshot counters, guarded by Recorder.mu.
type counters struct {
	since           time.Time
	opened          int64
	failed          int64
	reconnects      int64
	disconnects     int64
	asyncErrors     int64
	lameDuck        int64
	discovered      int64
	reconnectErrors int64
	connectCount    int64
	connectSum      time.Duration
	connectMin      time.Duration
	connectMax      time.Duration
	lastError       string
	lastErrorTime   time.Time
}

// NewRecorder returns a Recorder whose instruments are created on the
// MeterProvider from [WithMeterProvider] (default: the global one). It never
// fails; an instrument that cannot be created is reported through otel.Handle
// and replaced by a no-op one.
func NewRecorder(opts ...Option) *Recorder {
	cfg := newConfig(opts)
	r := &Recorder{
		cfg:       cfg,
		meter:     meters.Meter(cfg.mp),
		inst:      meters.NewConnection(cfg.mp),
		observers: make(map[*nats.Conn]*Observer),
		attrs:     make(map[string]attribute.Set),
		stab:      semconv.StabilityFromEnv(),
	}
	r.stats.since = time.Now()
	return r
}

// attrSet returns the precomputed {messaging.system, nats.connection.name}
// set for a connection name (only messaging.system when name is empty).
func (r *Recorder) attrSet(name string) attribute.Set {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attrSetLocked(name)
}

func (r *Recorder) attrSetLocked(name string) attribute.Set {
	if s, ok := r.attrs[name]; ok {
		return s
	}
	kvs := []attribute.KeyValue{semconv.System}
	if name != "" {
		kvs = append(kvs, semconv.NATSConnectionKey.String(name))
	}
	s := attribute.NewSet(r.stab.Attrs(kvs)...)
	r.attrs[name] = s
	return s
}

// Dial calls dial, times it into nats.client.connect.duration and counts the
// attempt as opened or failed (with error.type on failure). On success the
// connection is observed as by [Recorder.Observe] (handlers chained, active
// gauge incremented until the connection closes) and returned; the
// [Observer] is available through [Recorder.Observer]. The dial error is
// returned unchanged. name is the low-cardinality nats.connection.name
// attribute; when empty the connection's own name (nats.Name) is used. If
// ctx is already done, Dial returns ctx.Err() without dialling or counting.
func (r *Recorder) Dial(ctx context.Context, name string, dial func(context.Context) (*nats.Conn, error)) (*nats.Conn, error) {
	if dial == nil {
		return nil, ErrNilDial
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nc, d, err := timedDial(ctx, dial)
	if err != nil {
		r.recordConnect(ctx, name, d, err)
		return nil, err
	}
	if name == "" {
		name = nc.Opts.Name
	}
	r.recordConnect(ctx, name, d, nil)
	if _, oerr := r.Observe(nc, name); oerr != nil {
		otel.Handle(oerr)
	}
	return nc, nil
}

// timedDial calls dial and returns its connection, how long it took and its
// error; a nil connection without an error is [ErrNilConn].
func timedDial(ctx context.Context, dial func(context.Context) (*nats.Conn, error)) (*nats.Conn, time.Duration, error) {
	start := time.Now()
	nc, err := dial(ctx)
	d := time.Since(start)
	if err == nil && nc == nil {
		err = ErrNilConn
	}
	return nc, d, err
}

// RecordDial counts one connect attempt that the caller dialled and timed
// itself (for example a pool with its own retry and gate logic): d goes to
// nats.client.connect.duration and the attempt to
// nats.client.connections.opened (err == nil) or .failed (with error.type),
// and to [Recorder.Snapshot]. It does not observe the connection: follow a
// successful attempt with [Recorder.Observe]. [Recorder.Dial] is RecordDial
// plus Observe around a dial function. ctx only carries values; its
// cancellation is ignored.
func (r *Recorder) RecordDial(ctx context.Context, name string, d time.Duration, err error) {
	r.recordConnect(ctx, name, d, err)
}

// recordConnect is the single place a connect attempt is counted. The
// snapshot counters move under r.mu; the OTel instruments are recorded
// after it is released (naq calls no provider code under a lock of its own).
func (r *Recorder) recordConnect(ctx context.Context, name string, d time.Duration, err error) {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	set := r.attrSetLocked(name)
	if err != nil {
		errType := ErrorType(err)
		r.stats.failed++
		r.stats.lastError = errType
		r.stats.lastErrorTime = time.Now()
		r.mu.Unlock()
		withErr := metric.WithAttributes(append(set.ToSlice(), semconv.ErrorTypeKey.String(errType))...)
		r.inst.Failed.Add(ctx, 1, withErr)
		r.inst.ConnectDuration.Record(ctx, d.Seconds(), withErr)
		return
	}
	r.stats.opened++
	r.stats.connectCount++
	r.stats.connectSum += d
	if r.stats.connectCount == 1 || d < r.stats.connectMin {
		r.stats.connectMin = d
	}
	if d > r.stats.connectMax {
		r.stats.connectMax = d
	}
	r.mu.Unlock()
	as := metric.WithAttributeSet(set)
	r.inst.Opened.Add(ctx, 1, as)
	r.inst.ConnectDuration.Record(ctx, d.Seconds(), as)
}

// event kinds counted by an Observer.
type event int

const (
	evDisconnect event = iota
	evReconnect
	evAsyncError
	evLameDuck
	evDiscovered
	evReconnectErr
)

// recordEvent is the single place a connection event is counted. It runs
// on nats.go's callback goroutine: the snapshot counters move under r.mu,
// the OTel counters are added after it is released.
func (r *Recorder) recordEvent(ev event, set attribute.Set, err error) {
	ctx := context.Background()
	switch ev {
	case evDisconnect:
		defer r.inst.Disconnects.Add(ctx, 1, metric.WithAttributeSet(set))
	case evReconnect:
		defer r.inst.Reconnects.Add(ctx, 1, metric.WithAttributeSet(set))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev {
	case evDisconnect:
		r.stats.disconnects++
	case evReconnect:
		r.stats.reconnects++
	case evAsyncError:
		r.stats.asyncErrors++
	case evLameDuck:
		r.stats.lameDuck++
	case evDiscovered:
		r.stats.discovered++
	case evReconnectErr:
		r.stats.reconnectErrors++
	}
	if err != nil {
		r.stats.lastError = ErrorType(err)
		r.stats.lastErrorTime = time.Now()
	}
}

// addActive is the single place the active gauge moves.
func (r *Recorder) addActive(set attribute.Set, delta int64) {
	r.activeMu.Lock()
	r.active += delta
	r.activeMu.Unlock()
	r.inst.Active.Add(context.Background(), delta, metric.WithAttributeSet(set))
}

func (r *Recorder) activeCount() int64 {
	r.activeMu.Lock()
	defer r.activeMu.Unlock()
	return r.active
}

// Observer returns the [Observer] of nc if the Recorder currently observes it
// (it was dialled with [Recorder.Dial] or passed to [Recorder.Observe] and is
// neither closed nor stopped).
func (r *Recorder) Observer(nc *nats.Conn) (*Observer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.observers[nc]
	return o, ok
}

// ConnOptions returns nats.Options to append LAST to a connect call so that
// events which nats.go only lets you hook at connect time reach the Recorder:
// lame-duck mode (nats.LameDuckModeHandler has no setter on *nats.Conn) and
// reconnect errors. Each option chains the handler set by earlier options, so
// the user's handler still runs. The events are counted once the connection
// is observed ([Recorder.Dial] or [Recorder.Observe]); before that they only
// reach the user's handler.
func (r *Recorder) ConnOptions() []nats.Option {
	return []nats.Option{
		func(o *nats.Options) error {
			prev := o.LameDuckModeHandler
			o.LameDuckModeHandler = func(nc *nats.Conn) {
				if ob, ok := r.Observer(nc); ok {
					ob.event(evLameDuck, nil)
				}
				if prev != nil {
					prev(nc)
				}
			}
			return nil
		},
		func(o *nats.Options) error {
			prev := o.ReconnectErrCB
			o.ReconnectErrCB = func(nc *nats.Conn, err error) {
				if ob, ok := r.Observer(nc); ok {
					ob.event(evReconnectErr, err)
				}
				if prev != nil {
					prev(nc, err)
				}
			}
			return nil
		},
	}
}
