// Package msgcount keeps naq's two message counters,
// messaging.client.sent.messages and messaging.client.consumed.messages, in
// atomics that an Int64ObservableCounter callback reports at collection.
//
// A synchronous SDK counter costs every call an Add through the metrics SDK
// (attribute lookup, aggregation, exemplar offer). Counting into an atomic
// resolved when an operation is declared costs one atomic add; the totals
// are read only when a reader collects. The data points are the same
// cumulative monotonic sums a synchronous counter would give (a delta
// reader gets deltas: the SDK computes them from the totals), with one
// difference: they carry no exemplars (histograms still do).
//
// Per meter there is one pair of counters and one registered callback
// (see [For]): every wrapper recording on the same MeterProvider shares them,
// so one attribute set is one series whatever the number of wrappers, as
// with a synchronous counter. Series are never removed: like the SDK's own
// cumulative storage of a synchronous counter they live as long as the
// MeterProvider, bounded by the distinct attribute sets (operation,
// destination template under the template cap, connection name,
// error.type). There is no wrapper lifecycle to unregister the callback on:
// it lives with the MeterProvider (the SDK stops calling it at shutdown).
//
// Locks: the per-call path ([Cell.Add]) takes none. Collection takes none
// of this package's either: it reads an immutable snapshot of the cells
// through an atomic pointer. Only declaring a new series (a new attribute
// set: once per operation and destination, once per error.type) takes a
// writer-only mutex, which nothing holds while calling the SDK or user
// code, so no nats.go callback can wait on collection through it.
package msgcount

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

// Cell is one series of a counter: the running total of one attribute set.
type Cell struct {
	n    atomic.Int64
	opts []metric.ObserveOption // the attribute set, for the callback
}

// Add adds n (> 0; anything else is ignored, as a counter only grows).
func (c *Cell) Add(n int64) {
	if c != nil && n > 0 {
		c.n.Add(n)
	}
}

// Load returns the total.
func (c *Cell) Load() int64 { return c.n.Load() }

// Counter is one message counter of a meter. It is a metric.Int64Counter
// (Add finds the cell of the attribute set, so code holding it as a
// synchronous counter keeps working), and [Counter.Cell] resolves a cell
// once for a hot path. It is safe for concurrent use.
type Counter struct {
	embedded.Int64Counter
	obs  metric.Int64ObservableCounter
	mu   sync.Mutex // writers of snap only; never held while calling out
	snap atomic.Pointer[series]
}

var _ metric.Int64Counter = (*Counter)(nil)

// series is an immutable snapshot of a counter's cells: replaced (copy on
// write), never modified once published.
type series struct {
	byKey map[attribute.Distinct]*Cell
	cells []*Cell
}

func newCounter(obs metric.Int64ObservableCounter) *Counter {
	c := &Counter{obs: obs}
	c.snap.Store(&series{byKey: map[attribute.Distinct]*Cell{}})
	return c
}

// Cell returns the cell of set, creating it on first use. Resolve it once
// (when an operation is declared) and call [Cell.Add] per call.
func (c *Counter) Cell(set attribute.Set) *Cell {
	k := set.Equivalent()
	if cell := c.snap.Load().byKey[k]; cell != nil {
		return cell
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	if cell := old.byKey[k]; cell != nil {
		return cell
	}
	cell := &Cell{opts: []metric.ObserveOption{metric.WithAttributeSet(set)}}
	next := &series{byKey: make(map[attribute.Distinct]*Cell, len(old.byKey)+1), cells: make([]*Cell, 0, len(old.cells)+1)}
	for key, v := range old.byKey {
		next.byKey[key] = v
	}
	next.byKey[k] = cell
	next.cells = append(append(next.cells, old.cells...), cell)
	c.snap.Store(next)
	return cell
}

// Add adds incr to the series of the options' attribute set, like a
// synchronous counter's Add. A negative incr is ignored.
func (c *Counter) Add(_ context.Context, incr int64, options ...metric.AddOption) {
	if incr <= 0 {
		return
	}
	c.Cell(metric.NewAddConfig(options).Attributes()).Add(incr)
}

// Enabled reports true: every Add is counted.
func (c *Counter) Enabled(context.Context) bool { return true }

// observe reports every series with a total above zero (a series created
// but never added to has no data point, as with a synchronous counter).
func (c *Counter) observe(o metric.Observer) {
	for _, cell := range c.snap.Load().cells {
		if v := cell.n.Load(); v > 0 {
			o.ObserveInt64(c.obs, v, cell.opts...)
		}
	}
}

// pair is the two counters of one meter, made once.
type pair struct {
	once           sync.Once
	sent, consumed *Counter
}

// pairs holds the counters of each meter (of a comparable type).
var pairs sync.Map // metric.Meter → *pair

// For returns the sent and consumed counters of meter m, creating them on
// first use with newObs (which makes the two observable instruments) and
// registering their callback on m once. A meter of a type that cannot be a
// map key gets new counters and a new callback on every call. An error of
// the registration goes to otel.Handle: the counters then count but report
// nothing.
func For(m metric.Meter, newObs func() (sent, consumed metric.Int64ObservableCounter)) (sent, consumed *Counter) {
	p := &pair{}
	if t := reflect.TypeOf(m); t != nil && t.Comparable() {
		v, _ := pairs.LoadOrStore(m, p)
		p = v.(*pair)
	}
	p.once.Do(func() {
		so, co := newObs()
		p.sent, p.consumed = newCounter(so), newCounter(co)
		if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			p.sent.observe(o)
			p.consumed.observe(o)
			return nil
		}, so, co); err != nil {
			otel.Handle(err)
		}
	})
	return p.sent, p.consumed
}
