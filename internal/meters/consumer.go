package meters

import (
	"context"
	"math"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/naq-io/naq/internal/semconv"
)

// MaxPendingSeries bounds the distinct attribute sets a [ConsumerHealth]
// reports nats.client.consumer.pending for. Further sets share one series
// whose stream and consumer group are "_OTHER".
const MaxPendingSeries = 1024

// ConsumerHealth holds the consumer-health instruments that the instrument
// package records from the metadata every delivered JetStream message
// carries (no extra server round trip):
//
//   - nats.client.consumer.lag (s, histogram): the time from the message's
//     stream timestamp to its delivery to the application, with the
//     explicit buckets of semconv's LagBuckets (50 µs to 1 h);
//   - nats.client.consumer.redelivered ({message}, counter): deliveries
//     whose delivery count is above 1;
//   - nats.client.consumer.pending ({message}, observable gauge): the
//     consumer's pending count (the messages left after the delivered one)
//     as last seen by this process, one [PendingCell] per attribute set.
//
// Create one per MeterProvider with [NewConsumerHealth] (the instrument
// package shares one per MeterProvider): each registers a callback for the
// pending gauge, and two of them with cells of the same attribute set would
// report that series twice. A ConsumerHealth is safe for concurrent use.
//
// Lock discipline: storing a pending count is one atomic store, and a
// collection reads an immutable list of cells through an atomic pointer; a
// mutex only serialises the creation of cells ([ConsumerHealth.Pending],
// called when a consumer is wrapped, never per message), and neither path
// calls nats.go.
type ConsumerHealth struct {
	// Lag is nats.client.consumer.lag (s).
	Lag metric.Float64Histogram
	// Redelivered is nats.client.consumer.redelivered ({message}).
	Redelivered metric.Int64Counter

	pending metric.Int64ObservableGauge

	mu       sync.Mutex                          // serialises cell creation
	cells    map[attribute.Distinct]*PendingCell // guarded by mu
	overflow *PendingCell                        // guarded by mu; created on first use
	list     atomic.Pointer[[]*PendingCell]      // copy on write, read by collection
}

// NewConsumerHealth creates the consumer-health instruments on mp (nil: the
// global MeterProvider) and registers the callback of the pending gauge.
// Like [NewMessaging] it never fails: an instrument or a registration that
// fails is reported through otel.Handle and the instrument replaced by a
// no-op one. The registration lasts as long as mp.
func NewConsumerHealth(mp metric.MeterProvider) *ConsumerHealth {
	m := Meter(mp)
	h := &ConsumerHealth{
		Lag: histogram(m, semconv.MetricConsumerLag,
			"Time from a JetStream message's stream timestamp to its delivery to the application.",
			metric.WithExplicitBucketBoundaries(semconv.LagBuckets()...)),
		Redelivered: counter(m, semconv.MetricConsumerRedelivered, semconv.UnitMessage,
			"Number of JetStream messages delivered to the application with a delivery count above 1."),
		pending: obsGauge(m, semconv.MetricConsumerPending, semconv.UnitMessage,
			"Pending count of a JetStream consumer as last seen in a message delivered to this process."),
		cells: make(map[attribute.Distinct]*PendingCell),
	}
	h.list.Store(&[]*PendingCell{})
	if _, err := m.RegisterCallback(h.observe, h.pending); err != nil {
		otel.Handle(err)
	}
	return h
}

// PendingCell holds the last pending count seen for one attribute set of
// nats.client.consumer.pending. Its methods are safe for concurrent use and
// do nothing on a nil cell.
type PendingCell struct {
	v   atomic.Int64 // -1 until a count is stored
	opt metric.ObserveOption
}

// Store records n as the last pending count seen: one atomic store. A count
// above the int64 range is clamped.
func (c *PendingCell) Store(n uint64) {
	if c != nil {
		c.v.Store(int64(min(n, math.MaxInt64)))
	}
}

// Load returns the last pending count stored and whether one was.
func (c *PendingCell) Load() (int64, bool) {
	if c == nil {
		return 0, false
	}
	v := c.v.Load()
	return v, v >= 0
}

// Pending returns the cell of set, creating it on first use, so that a
// wrapper looks it up once per consumer and stores counts into it for every
// message. set should hold messaging.system, nats.connection.name (when the
// connection has one), messaging.nats.stream and
// messaging.consumer.group.name, with low-cardinality values. Beyond
// [MaxPendingSeries] sets, every new set gets the one overflow cell
// ({messaging.system, stream and group "_OTHER"}). A cell reports nothing
// until a count is stored, and then its last count at every collection.
// A nil h returns a nil cell.
func (h *ConsumerHealth) Pending(set attribute.Set) *PendingCell {
	if h == nil {
		return nil
	}
	key := set.Equivalent()
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.cells[key]; ok {
		return c
	}
	if len(h.cells) >= MaxPendingSeries {
		if h.overflow == nil {
			h.overflow = h.addLocked(attribute.NewSet(semconv.System,
				semconv.NATSStreamKey.String(semconv.OtherValue),
				semconv.MessagingConsumerGroupNameKey.String(semconv.OtherValue)))
		}
		return h.overflow
	}
	c := h.addLocked(set)
	h.cells[key] = c
	return c
}

// addLocked makes a cell for set and publishes a new list with it for
// collection. h.mu must be held.
func (h *ConsumerHealth) addLocked(set attribute.Set) *PendingCell {
	c := &PendingCell{opt: metric.WithAttributeSet(set)}
	c.v.Store(-1)
	old := *h.list.Load()
	list := make([]*PendingCell, len(old), len(old)+1)
	copy(list, old)
	list = append(list, c)
	h.list.Store(&list)
	return c
}

// observe is the pending gauge's callback: it reads the current list and
// each cell's atomic, nothing else (no lock, no nats.go).
func (h *ConsumerHealth) observe(_ context.Context, o metric.Observer) error {
	for _, c := range *h.list.Load() {
		if v := c.v.Load(); v >= 0 {
			o.ObserveInt64(h.pending, v, c.opt)
		}
	}
	return nil
}
