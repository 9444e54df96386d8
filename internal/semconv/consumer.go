package semconv

// Attribute values of the consumer-health metrics
// (nats.client.consumer.lag, .pending, .redelivered, and the settle, process
// and receive metrics of the same consumers) and of nats.client.slow_consumers.
const (
	// ConsumerEphemeral is the messaging.consumer.group.name of a JetStream
	// consumer that has no durable name naq can see: ephemeral and ordered
	// consumers, whose names are random and change with every (re)creation,
	// so one series per name would grow without bound. Durable names are
	// kept (through the cardinality cap, see [OtherValue]).
	ConsumerEphemeral = "_ephemeral"

	// OtherValue is the value a low-cardinality attribute takes once its
	// cardinality cap is reached (the same value as tracing's
	// OverflowTemplate), and the destination template of
	// nats.client.slow_consumers for a subscription naq does not track.
	OtherValue = "_OTHER"
)

// LagBuckets are the explicit histogram boundaries, in seconds, of
// nats.client.consumer.lag: [DurationBuckets] (50 µs … 10 s, so a consumer
// that keeps up resolves as finely as any latency) followed by 30 s, 1, 2,
// 5, 10 and 30 minutes and 1 hour. Lag is the one duration whose
// interesting values are minutes: with DurationBuckets alone every message
// of a backlog older than 10 s would land in +Inf, and a quantile could
// never show more than 10 s.
func LagBuckets() []float64 {
	return append(DurationBuckets(), 30, 60, 120, 300, 600, 1800, 3600)
}
