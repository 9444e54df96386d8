package instrument

// Consumer health: nats.client.consumer.lag, .pending and .redelivered,
// recorded from the metadata of every JetStream message an instrumented
// consumer delivers (Consume and push handlers, Messages().Next, Next,
// Fetch/FetchBytes/FetchNoWait batches; legacy Subscribe/QueueSubscribe
// handlers, FetchJS, and ProcessJS on messages no naq receive saw).
//
// Labels. Every consumer-side operation (receive, process, settle) and the
// three health metrics carry the same two low-cardinality labels, so that
// they join:
//
//   - messaging.nats.stream: the stream name, through the pipeline's cap
//     of stream names (names.go: cfg.maxTemplates distinct names per
//     wrapper, WithMaxTemplates), shared with the management calls;
//     further streams are "_OTHER" (the destination and span name use the
//     capped name too; a capped span also carries the real name);
//   - messaging.consumer.group.name: the durable name (new API: the
//     consumer's Durable; legacy: the queue of QueueSubscribe, the durable
//     of PullSubscribe) through the cap of group names (names.go), or
//     semconv.ConsumerEphemeral ("_ephemeral") when there is none: the
//     names of ephemeral and ordered consumers are random and change with
//     every (re)creation, so they stay off metrics (the consumer name is a
//     span attribute).
//
// Cost per message: one Metadata() parse (shared with the span attributes
// when the span records), one histogram record, one atomic store, and a
// counter add for a redelivery; attribute sets are built once per (stream,
// group) label pair. The clock read is the process span's start when there
// is one.

import (
	"context"
	"reflect"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
)

// consumerHealths holds the meters.ConsumerHealth of each MeterProvider (of
// a comparable type): one pending-gauge callback per provider, whichever
// wrappers record into it.
var consumerHealths sync.Map // metric.MeterProvider → *meters.ConsumerHealth

// healthState is the per-pipeline part of consumer health: the instruments
// (nil when metrics are off) and the pipeline's name caps.
type healthState struct {
	inst    *meters.ConsumerHealth
	names   *nameCaps            // the pipeline's: stream and durable names → themselves or "_OTHER"
	base    []attribute.KeyValue // system, connection name
	stab    semconv.Stability    // renames of the stream key (opt-in)
	byLabel sync.Map             // consumerLabels → *consumerHealth
}

// consumerLabels are the capped label values of one consumer.
type consumerLabels struct{ stream, group string }

func newHealthState(p *pipeline) *healthState {
	h := &healthState{
		names: p.names,
		base:  p.metricBase,
		stab:  p.stab,
	}
	if p.metering {
		h.inst = sharedConsumerHealth(p.cfg.mp)
	}
	return h
}

// sharedConsumerHealth returns the ConsumerHealth of mp, created once per
// provider of a comparable type (else one per pipeline).
func sharedConsumerHealth(mp metric.MeterProvider) *meters.ConsumerHealth {
	if t := reflect.TypeOf(mp); t == nil || !t.Comparable() {
		return meters.NewConsumerHealth(mp)
	}
	if v, ok := consumerHealths.Load(mp); ok {
		return v.(*meters.ConsumerHealth)
	}
	v, _ := consumerHealths.LoadOrStore(mp, meters.NewConsumerHealth(mp))
	return v.(*meters.ConsumerHealth)
}

// labels returns the capped stream and consumer-group label values of a
// consumer of stream with durable name durable ("" for none).
func (h *healthState) labels(stream, durable string) consumerLabels {
	l := consumerLabels{stream: stream, group: semconv.ConsumerEphemeral}
	l.stream = h.names.name(nameStream, stream)
	if durable != "" {
		l.group = h.names.name(nameGroup, durable)
	}
	return l
}

// consumer returns the recorder of the consumer labelled l, built once per
// label pair (bounded by the caps), or nil when metrics are off.
func (h *healthState) consumer(l consumerLabels) *consumerHealth {
	if h.inst == nil {
		return nil
	}
	if v, ok := h.byLabel.Load(l); ok {
		return v.(*consumerHealth)
	}
	own, _ := consumerAttrs(l, "")
	attrs := make([]attribute.KeyValue, 0, len(h.base)+len(own)+1)
	attrs = append(append(attrs, h.base...), h.stab.Attrs(own)...)
	set := attribute.NewSet(attrs...)
	ch := &consumerHealth{
		inst:    h.inst,
		pending: h.inst.Pending(set),
		rec:     []metric.RecordOption{metric.WithAttributeSet(set)},
		add:     []metric.AddOption{metric.WithAttributeSet(set)},
	}
	v, _ := h.byLabel.LoadOrStore(l, ch)
	return v.(*consumerHealth)
}

// consumerHealth records the health metrics of one (stream, group).
type consumerHealth struct {
	inst    *meters.ConsumerHealth
	pending *meters.PendingCell
	rec     []metric.RecordOption
	add     []metric.AddOption
}

// record records one delivered message: lag = now − ts (its stream
// timestamp; a negative lag, from clocks apart, is recorded as 0), its
// pending count as the last seen, and a redelivery when delivered > 1. ctx
// carries the delivery's span for exemplars. A nil h records nothing.
func (h *consumerHealth) record(ctx context.Context, now, ts time.Time, delivered, pending uint64) {
	if h == nil {
		return
	}
	lag := now.Sub(ts).Seconds()
	if lag < 0 {
		lag = 0
	}
	h.inst.Lag.Record(ctx, lag, h.rec...)
	h.pending.Store(pending)
	if delivered > 1 {
		h.inst.Redelivered.Add(ctx, 1, h.add...)
	}
}

// consumerAttrs returns the span-and-metric attributes of a consumer with
// labels l, and the span-only attributes that keep the real stream name on
// spans when the cap replaced it (stream is the real name).
func consumerAttrs(l consumerLabels, stream string) (attrs, spanOnly []attribute.KeyValue) {
	if l.stream != "" {
		attrs = append(attrs, semconv.NATSStreamKey.String(l.stream))
	}
	attrs = append(attrs, semconv.MessagingConsumerGroupNameKey.String(l.group))
	if l.stream != stream && stream != "" {
		spanOnly = append(spanOnly, semconv.NATSStreamKey.String(stream))
	}
	return attrs, spanOnly
}
