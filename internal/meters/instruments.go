package meters

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/naq-io/naq/internal/msgcount"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/internal/version"
)

// Meter returns the meter naq uses on mp: naq's one instrumentation scope
// (version.ScopeName), version.Version and the semconv schema URL. A nil mp
// means the global MeterProvider.
func Meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(version.ScopeName,
		metric.WithInstrumentationVersion(version.Version),
		metric.WithSchemaURL(semconv.SchemaURL))
}

// Messaging holds the semantic-convention messaging instruments that the
// instrument pipeline records on every operation. Create it once per wrapper
// with [NewMessaging]; it is safe for concurrent use.
type Messaging struct {
	// OperationDuration is messaging.client.operation.duration (s).
	OperationDuration metric.Float64Histogram
	// ProcessDuration is messaging.process.duration (s).
	ProcessDuration metric.Float64Histogram
	// SentMessages is messaging.client.sent.messages ({message}).
	//
	// It counts into atomics that an Int64ObservableCounter reports at
	// collection (one callback per MeterProvider, shared by every Messaging
	// made on it): Add costs no metrics-SDK call, and the data points are
	// the same cumulative sums a synchronous counter gives, without
	// exemplars (the duration histograms keep theirs). Its series live as
	// long as the MeterProvider, like a synchronous counter's.
	SentMessages metric.Int64Counter
	// ConsumedMessages is messaging.client.consumed.messages ({message}),
	// counted like SentMessages.
	ConsumedMessages metric.Int64Counter
}

// NewMessaging creates the messaging instruments on mp (nil: the global
// MeterProvider). It never fails: an instrument that cannot be created is
// reported through otel.Handle and replaced by a no-op one, so telemetry
// never breaks a call.
func NewMessaging(mp metric.MeterProvider) *Messaging {
	m := Meter(mp)
	buckets := metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...)
	msg := &Messaging{
		OperationDuration: histogram(m, semconv.MetricOperationDuration,
			"Duration of messaging operation initiated by a producer or consumer client.", buckets),
		ProcessDuration: histogram(m, semconv.MetricProcessDuration,
			"Duration of processing operation.", buckets),
	}
	msg.SentMessages, msg.ConsumedMessages = msgcount.For(m, func() (metric.Int64ObservableCounter, metric.Int64ObservableCounter) {
		return obsCounter(m, semconv.MetricSentMessages, semconv.UnitMessage,
				"Number of messages producer attempted to send to the broker."),
			obsCounter(m, semconv.MetricConsumedMessages, semconv.UnitMessage,
				"Number of messages that were delivered to the application.")
	})
	return msg
}

// Connection holds the nats.client.* connection instruments: the synchronous
// ones recorded by a metrics.Recorder when it dials or sees a connection event,
// and the observable ones whose callbacks a metrics.Observer registers per
// connection.
// Create it with [NewConnection]; it is safe for concurrent use.
type Connection struct {
	// Active is nats.client.connections.active ({connection}).
	Active metric.Int64UpDownCounter
	// Opened is nats.client.connections.opened ({connection}).
	Opened metric.Int64Counter
	// Failed is nats.client.connections.failed ({connection}).
	Failed metric.Int64Counter
	// ConnectDuration is nats.client.connect.duration (s).
	ConnectDuration metric.Float64Histogram
	// Reconnects is nats.client.reconnects ({event}).
	Reconnects metric.Int64Counter
	// Disconnects is nats.client.disconnects ({event}).
	Disconnects metric.Int64Counter
	// SubscriptionDropped is nats.client.subscription.dropped ({message}),
	// observed from the cumulative nats.Subscription.Dropped count.
	SubscriptionDropped metric.Int64ObservableCounter
	// SubscriptionPending is nats.client.subscription.pending ({message}),
	// observed from nats.Subscription.Pending.
	SubscriptionPending metric.Int64ObservableGauge
	// Connected is nats.client.connected (1): 1 while connected, else 0.
	Connected metric.Int64ObservableGauge
	// RTT is nats.client.rtt (s): the last round trip sampled in the
	// background.
	RTT metric.Float64ObservableGauge
	// SentBytes is nats.client.sent.bytes (By), from nats.Statistics.OutBytes.
	SentBytes metric.Int64ObservableCounter
	// ReceivedBytes is nats.client.received.bytes (By), from
	// nats.Statistics.InBytes.
	ReceivedBytes metric.Int64ObservableCounter
	// SlowConsumers is nats.client.slow_consumers ({event}): the
	// nats.ErrSlowConsumer async errors of the connection, one per slow
	// episode of a subscription (nats.go reports a subscription once when
	// it starts dropping messages, and again only after it has delivered
	// one since); nats.client.subscription.dropped counts the messages.
	SlowConsumers metric.Int64Counter
}

// NewConnection creates the synchronous connection instruments on mp (nil:
// the global MeterProvider). Like [NewMessaging] it never fails.
func NewConnection(mp metric.MeterProvider) *Connection {
	m := Meter(mp)
	return &Connection{
		Active: upDown(m, semconv.MetricConnectionsActive, semconv.UnitConnection,
			"Number of NATS connections currently open."),
		Opened: counter(m, semconv.MetricConnectionsOpened, semconv.UnitConnection,
			"Number of NATS connections opened successfully."),
		Failed: counter(m, semconv.MetricConnectionsFailed, semconv.UnitConnection,
			"Number of NATS connection attempts that failed."),
		ConnectDuration: histogram(m, semconv.MetricConnectDuration,
			"Time taken to establish a NATS connection.",
			metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...)),
		Reconnects: counter(m, semconv.MetricReconnects, semconv.UnitEvent,
			"Number of times a NATS connection reconnected."),
		Disconnects: counter(m, semconv.MetricDisconnects, semconv.UnitEvent,
			"Number of times a NATS connection was lost."),
		SubscriptionDropped: obsCounter(m, semconv.MetricSubDropped, semconv.UnitMessage,
			"Number of messages a slow subscription dropped."),
		SubscriptionPending: obsGauge(m, semconv.MetricSubPending, semconv.UnitMessage,
			"Number of messages delivered to a subscription but not yet processed."),
		Connected: obsGauge(m, semconv.MetricConnected, semconv.UnitDimless,
			"Whether the NATS connection is currently connected (1) or not (0)."),
		RTT: obsFloatGauge(m, semconv.MetricRTT, semconv.UnitSeconds,
			"Last sampled round-trip time to the NATS server."),
		SentBytes: obsCounter(m, semconv.MetricSentBytes, semconv.UnitBytes,
			"Number of bytes the NATS connection sent."),
		ReceivedBytes: obsCounter(m, semconv.MetricReceivedBytes, semconv.UnitBytes,
			"Number of bytes the NATS connection received."),
		SlowConsumers: counter(m, semconv.MetricSlowConsumers, semconv.UnitEvent,
			"Number of times a subscription became a slow consumer and started dropping messages."),
	}
}

var noopMeter = noop.NewMeterProvider().Meter(version.ScopeName)

func histogram(m metric.Meter, name, desc string, opts ...metric.Float64HistogramOption) metric.Float64Histogram {
	opts = append(opts, metric.WithUnit(semconv.UnitSeconds), metric.WithDescription(desc))
	h, err := m.Float64Histogram(name, opts...)
	if err != nil {
		otel.Handle(err)
		h, _ = noopMeter.Float64Histogram(name)
	}
	return h
}

func counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
		c, _ = noopMeter.Int64Counter(name)
	}
	return c
}

func upDown(m metric.Meter, name, unit, desc string) metric.Int64UpDownCounter {
	c, err := m.Int64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
		c, _ = noopMeter.Int64UpDownCounter(name)
	}
	return c
}

func obsCounter(m metric.Meter, name, unit, desc string) metric.Int64ObservableCounter {
	c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
		c, _ = noopMeter.Int64ObservableCounter(name)
	}
	return c
}

func obsGauge(m metric.Meter, name, unit, desc string) metric.Int64ObservableGauge {
	g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
		g, _ = noopMeter.Int64ObservableGauge(name)
	}
	return g
}

func obsFloatGauge(m metric.Meter, name, unit, desc string) metric.Float64ObservableGauge {
	g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
		g, _ = noopMeter.Float64ObservableGauge(name)
	}
	return g
}
