package semconv

import (
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
)

// EnvStabilityOptIn is the environment variable through which a user opts
// into newer semantic-convention names, as the messaging conventions ask of
// instrumentations that emitted older ones: a comma-separated list of
// category tokens ("http", "database", "messaging", "messaging/dup", ...).
// naq reads only the messaging tokens and ignores the others.
const EnvStabilityOptIn = "OTEL_SEMCONV_STABILITY_OPT_IN"

// Stability is which attribute names naq emits where the newest messaging
// conventions renamed one naq emits by default (see [Renames]). Read it once
// with [StabilityFromEnv] when a wrapper or recorder is built, never per
// call, and pass attribute lists through [Stability.Attrs] where they are
// precomputed.
type Stability uint8

const (
	// StabilityDefault emits today's names only (OTEL_SEMCONV_STABILITY_OPT_IN
	// unset or without a messaging token). The dashboards and alert rules
	// naq ships query these names.
	StabilityDefault Stability = iota
	// StabilityMessaging ("messaging") emits the newer names only.
	StabilityMessaging
	// StabilityMessagingDup ("messaging/dup") emits both: every renamed
	// attribute is followed by its newer name with the same value.
	StabilityMessagingDup
)

// ParseStability returns the Stability a value of
// OTEL_SEMCONV_STABILITY_OPT_IN selects. Tokens are separated by commas,
// trimmed and compared without regard to case, and must match exactly
// ("messagingx" and "messaging/dupx" select nothing). "messaging/dup" wins
// over "messaging" when both are present, as the conventions require.
func ParseStability(v string) Stability {
	s := StabilityDefault
	for tok := range strings.SplitSeq(v, ",") {
		switch strings.ToLower(strings.TrimSpace(tok)) {
		case "messaging/dup":
			return StabilityMessagingDup
		case "messaging":
			s = StabilityMessaging
		}
	}
	return s
}

// StabilityFromEnv parses the current value of [EnvStabilityOptIn]. Call it
// when a wrapper or recorder is built: a later change of the environment
// affects only what is built after it.
func StabilityFromEnv() Stability { return ParseStability(os.Getenv(EnvStabilityOptIn)) }

// String returns the opt-in token that selects s ("messaging",
// "messaging/dup"), or "default".
func (s Stability) String() string {
	switch s {
	case StabilityMessaging:
		return "messaging"
	case StabilityMessagingDup:
		return "messaging/dup"
	}
	return "default"
}

// Rename is one attribute naq emits under Old by default and under New with
// the "messaging" opt-in (both with "messaging/dup").
type Rename struct {
	Old, New attribute.Key
}

// renames is the table of names that switch. Evidence, newest first:
//
//   - messaging.system -> messaging.system.name: deprecated in the
//     semantic-conventions registry after v1.43.0 ("Replaced by
//     messaging.system.name"; values unchanged except aws_sqs, eventgrid,
//     eventhubs, servicebus, gcp_pubsub), planned in
//     open-telemetry/semantic-conventions#1892. go.opentelemetry.io/otel
//     v1.47.0 ships semconv packages up to v1.43.0, which still have
//     messaging.system only.
//   - messaging.nats.* -> nats.*: the system-specific naming guidance
//     (semantic-conventions#1708, merged) names a system's own attributes
//     "{system}.{thing}.{property}", and the same registry change moved the
//     messaging systems' own attributes out of the messaging namespace
//     (messaging.kafka.offset -> kafka.offset, messaging.kafka.message.tombstone
//     -> kafka.message.tombstone). NATS is not in the registry; naq's own
//     keys follow the pattern.
//
// Nothing else differs: the messaging attributes and metric names naq
// emits (messaging.operation.*, messaging.destination.*, the four
// messaging.* instruments) are the same in semconv v1.37.0 through v1.43.0
// and in the newer registry, and naq's nats.client.* instruments already
// follow "{system}.client.{metric}".
var renames = [...]Rename{
	{MessagingSystemKey, "messaging.system.name"},
	{NATSStreamKey, "nats.stream"},
	{NATSConsumerKey, "nats.consumer"},
	{NATSDeliveryCountKey, "nats.message.delivery_count"},
	{NATSStreamSequenceKey, "nats.message.stream_sequence"},
	{NATSKVBucketKey, "nats.kv.bucket"},
	{NATSKVKeyKey, "nats.kv.key"},
	{NATSObjBucketKey, "nats.obj.bucket"},
}

var renamed = func() map[attribute.Key]attribute.Key {
	m := make(map[attribute.Key]attribute.Key, len(renames))
	for _, r := range renames {
		m[r.Old] = r.New
	}
	return m
}()

// Renames returns the attribute names that switch under the opt-in, in a
// fresh slice.
func Renames() []Rename { return append([]Rename(nil), renames[:]...) }

// Attrs returns kvs as s emits them: unchanged under [StabilityDefault] or
// when no key of kvs switches (kvs itself is returned, nothing allocated);
// otherwise a new slice in which every switching key is renamed
// ([StabilityMessaging]) or followed by its renamed copy
// ([StabilityMessagingDup]). kvs is never modified.
func (s Stability) Attrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	if s == StabilityDefault {
		return kvs
	}
	n := 0
	for _, kv := range kvs {
		if _, ok := renamed[kv.Key]; ok {
			n++
		}
	}
	if n == 0 {
		return kvs
	}
	size := len(kvs)
	if s == StabilityMessagingDup {
		size += n
	}
	out := make([]attribute.KeyValue, 0, size)
	for _, kv := range kvs {
		k, ok := renamed[kv.Key]
		if !ok {
			out = append(out, kv)
			continue
		}
		if s == StabilityMessagingDup {
			out = append(out, kv)
		}
		out = append(out, attribute.KeyValue{Key: k, Value: kv.Value})
	}
	return out
}
