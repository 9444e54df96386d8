// Package semconv is the one place naq names things: attribute keys, span and
// operation names, metric instrument names, units and histogram buckets.
//
// Every other package takes its names from here, so the names table in
// DESIGN.md, the Grafana dashboards, the Prometheus alert rules, the docs and
// the tests all agree. Only this package imports a pinned
// go.opentelemetry.io/otel/semconv version.
package semconv

import (
	"go.opentelemetry.io/otel/attribute"
	otelsemconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// SchemaURL is the semantic-conventions schema every naq tracer and meter
// declares.
const SchemaURL = otelsemconv.SchemaURL

// SystemName is the value of messaging.system on every span and metric.
const SystemName = "nats"

// Attribute keys.
const (
	MessagingSystemKey              = otelsemconv.MessagingSystemKey
	MessagingOperationTypeKey       = otelsemconv.MessagingOperationTypeKey
	MessagingOperationNameKey       = otelsemconv.MessagingOperationNameKey
	MessagingDestinationNameKey     = otelsemconv.MessagingDestinationNameKey
	MessagingDestinationTemplateKey = otelsemconv.MessagingDestinationTemplateKey
	MessagingConsumerGroupNameKey   = otelsemconv.MessagingConsumerGroupNameKey
	MessagingBatchMessageCountKey   = otelsemconv.MessagingBatchMessageCountKey
	ErrorTypeKey                    = otelsemconv.ErrorTypeKey
	ServerAddressKey                = otelsemconv.ServerAddressKey
	ServerPortKey                   = otelsemconv.ServerPortKey
	ServiceNameKey                  = otelsemconv.ServiceNameKey
	ServiceVersionKey               = otelsemconv.ServiceVersionKey
	// MessagingMessageBodySizeKey is the size in bytes of what a call moved:
	// the object an ObjectStore put stored or a get returned (span
	// attribute only, never a metric label).
	MessagingMessageBodySizeKey = otelsemconv.MessagingMessageBodySizeKey

	// NATS-specific keys (no semconv equivalent yet).
	NATSStreamKey         = attribute.Key("messaging.nats.stream")
	NATSConsumerKey       = attribute.Key("messaging.nats.consumer")
	NATSDeliveryCountKey  = attribute.Key("messaging.nats.message.delivery_count")
	NATSStreamSequenceKey = attribute.Key("messaging.nats.message.stream_sequence")
	NATSKVBucketKey       = attribute.Key("messaging.nats.kv.bucket")
	NATSKVKeyKey          = attribute.Key("messaging.nats.kv.key") // opt-in only
	NATSObjBucketKey      = attribute.Key("messaging.nats.obj.bucket")
	NATSConnectionKey     = attribute.Key("nats.connection.name")
	NATSCircuitStateKey   = attribute.Key("state")
	NATSCircuitNameKey    = attribute.Key("nats.circuit.name")
	NATSCircuitFromKey    = attribute.Key("nats.circuit.from")
	NATSCircuitToKey      = attribute.Key("nats.circuit.to")
	// NATSCircuitDestinationKey is what a breaker of a gate guards:
	// "<family> <destination template>" ("request svc.echo", "kv orders",
	// "js.publish orders.*"), "connect" for connect attempts, or
	// CircuitConnection for the gate's connection-health layer.
	NATSCircuitDestinationKey = attribute.Key("nats.circuit.destination")

	// Server hop spans (nats-server message tracing, ADR-41): which server
	// reported the hop, what kind of hop it is, and the connection it came
	// in on or went out to.
	NATSServerNameKey    = attribute.Key("nats.server.name")
	NATSServerIDKey      = attribute.Key("nats.server.id")
	NATSServerClusterKey = attribute.Key("nats.server.cluster")
	NATSHopTypeKey       = attribute.Key("nats.hop.type")               // one of the Hop* names
	NATSHopIDKey         = attribute.Key("nats.hop.id")                 // Nats-Trace-Hop: pairs a route egress with the next server's ingress
	NATSHopConnKindKey   = attribute.Key("nats.hop.connection.kind")    // client, router, gateway, leaf, ...
	NATSHopConnNameKey   = attribute.Key("nats.hop.connection.name")    // client name, or the remote server's name
	NATSHopAccountKey    = attribute.Key("nats.hop.account")            // the account the hop happened in
	NATSHopNoInterestKey = attribute.Key("nats.hop.stream.no_interest") // interest stream skipped the message
)

// Server hop span names: the first word of "<hop> <destination>" (INTERNAL
// spans built from nats-server trace events; the destination is a subject
// template, or the stream name for HopJetStream). They are also the values
// of NATSHopTypeKey.
const (
	HopIngress        = "ingress"
	HopSubjectMapping = "subject_mapping"
	HopServiceImport  = "service_import"
	HopStreamExport   = "stream_export"
	HopJetStream      = "jetstream"
	HopEgress         = "egress"
)

// System is the messaging.system attribute.
var System = MessagingSystemKey.String(SystemName)

// Operation types (messaging.operation.type).
const (
	OpTypeSend    = "send"
	OpTypeReceive = "receive"
	OpTypeProcess = "process"
	OpTypeSettle  = "settle"
)

// Operation names (messaging.operation.name). Span names are
// "<operation name> <destination>" except for connect.
const (
	OpPublish    = "publish"
	OpRequest    = "request"
	OpProcess    = "process"
	OpReceive    = "receive"
	OpAck        = "ack"
	OpNak        = "nak"
	OpTerm       = "term"
	OpInProgress = "in_progress"
	OpConnect    = "connect"

	OpKVGet     = "kv.get"
	OpKVPut     = "kv.put"
	OpKVCreate  = "kv.create"
	OpKVUpdate  = "kv.update"
	OpKVDelete  = "kv.delete"
	OpKVPurge   = "kv.purge"
	OpKVKeys    = "kv.keys"
	OpKVHistory = "kv.history"
	OpKVWatch   = "kv.watch"
	OpKVStatus  = "kv.status"

	// ObjectStore operations, span "<op> <bucket>". Object names are never
	// recorded.
	OpObjPut        = "obj.put"         // Put, PutBytes, PutString, PutFile
	OpObjGet        = "obj.get"         // Get, GetBytes, GetString, GetFile
	OpObjInfo       = "obj.info"        // GetInfo
	OpObjUpdateMeta = "obj.update_meta" // UpdateMeta
	OpObjDelete     = "obj.delete"      // Delete
	OpObjLink       = "obj.link"        // AddLink, AddBucketLink
	OpObjSeal       = "obj.seal"        // Seal
	OpObjList       = "obj.list"        // List
	OpObjWatch      = "obj.watch"       // Watch, and each update it delivers
	OpObjStatus     = "obj.status"      // Status
)

// JSOp returns the operation name of a JetStream management call, "js.<op>".
func JSOp(op string) string { return "js." + op }

// Error types (error.type) that naq itself produces; [ErrorType] maps every
// error to one value of the closed set (see errortype.go for the rest).
const (
	ErrorTypeCircuitOpen = "circuit_open"
	ErrorTypeTimeout     = "timeout"
	ErrorTypeOther       = "_OTHER"
	// ErrorTypePanic marks a call or handler that panicked: the pipeline
	// records it (with an [EventException] span event) and the panic
	// continues. ErrorType never returns it.
	ErrorTypePanic = "panic"
)

// The exception span event (OpenTelemetry's, as span.RecordError writes it)
// that records a panic of an instrumented call or handler: the Go type of
// the panic value, its message and the goroutine's stack.
const (
	EventException = otelsemconv.ExceptionEventName

	ExceptionTypeKey       = otelsemconv.ExceptionTypeKey
	ExceptionMessageKey    = otelsemconv.ExceptionMessageKey
	ExceptionStacktraceKey = otelsemconv.ExceptionStacktraceKey
)

// Trace propagation span event: added to a publish or request span when the
// trace context was NOT injected into the message sent, so that the message
// goes out exactly as raw nats.go would send it. NATSPropagationReasonKey
// says why: [PropagationHeadersUnsupported] (the server does not support
// headers) or [PropagationMaxPayload] (the header would push the message
// past the connection's max_payload).
const (
	EventPropagationSkipped = "nats.propagation.skipped"

	NATSPropagationReasonKey = attribute.Key("nats.propagation.reason")

	PropagationHeadersUnsupported = "headers_unsupported"
	PropagationMaxPayload         = "max_payload"
)

// Metric instrument names, units and descriptions: the names table.
const (
	MetricOperationDuration = "messaging.client.operation.duration"
	MetricProcessDuration   = "messaging.process.duration"
	MetricSentMessages      = "messaging.client.sent.messages"
	MetricConsumedMessages  = "messaging.client.consumed.messages"

	MetricConnectionsActive = "nats.client.connections.active"
	MetricConnectionsOpened = "nats.client.connections.opened"
	MetricConnectionsFailed = "nats.client.connections.failed"
	MetricConnectDuration   = "nats.client.connect.duration"
	MetricReconnects        = "nats.client.reconnects"
	MetricDisconnects       = "nats.client.disconnects"
	MetricConnected         = "nats.client.connected"
	MetricRTT               = "nats.client.rtt"
	MetricSentBytes         = "nats.client.sent.bytes"
	MetricReceivedBytes     = "nats.client.received.bytes"
	MetricSubPending        = "nats.client.subscription.pending"
	MetricSubDropped        = "nats.client.subscription.dropped"
	MetricCircuitState      = "nats.client.circuit.state"
	MetricCircuitTransition = "nats.client.circuit.transitions"
	MetricCircuitRejected   = "nats.client.circuit.rejected"

	// Consumer health, recorded from the metadata every delivered JetStream
	// message carries (no extra server round trip), per stream and consumer;
	// slow-consumer events per core subscription template.
	MetricConsumerLag         = "nats.client.consumer.lag"
	MetricConsumerPending     = "nats.client.consumer.pending"
	MetricConsumerRedelivered = "nats.client.consumer.redelivered"
	MetricSlowConsumers       = "nats.client.slow_consumers"
)

// Units.
const (
	UnitSeconds    = "s"
	UnitMessage    = "{message}"
	UnitConnection = "{connection}"
	UnitEvent      = "{event}"
	UnitCall       = "{call}"
	UnitBytes      = "By"
	UnitDimless    = "1"
)

// DurationBuckets are the explicit histogram boundaries, in seconds, of every
// duration histogram: they resolve loopback latency (50 µs) up to 10 s.
func DurationBuckets() []float64 {
	return []float64{
		0.00005, 0.0001, 0.00025, 0.0005,
		0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
		0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	}
}

// Circuit breaker span events (added to the span of the call that caused a
// state change or was rejected) and the attribute naming why the state
// changed.
const (
	EventCircuitStateChange = "nats.circuit.state_change"
	EventCircuitRejected    = "nats.circuit.rejected"

	NATSCircuitReasonKey = attribute.Key("nats.circuit.reason")
)

// CircuitConnection is the nats.circuit.destination value of a gate's
// connection-health layer: "open" while the connection has been down for
// longer than the gate's grace. CircuitConnect is the value of the breaker
// guarding connect attempts.
const (
	CircuitConnection = "connection"
	CircuitConnect    = "connect"
)
