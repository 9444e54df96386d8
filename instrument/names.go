package instrument

// The one cardinality cap.
//
// Every name that reaches a metric label passes a cap of cfg.maxTemplates
// (WithMaxTemplates) distinct values per pipeline; a new name beyond it
// becomes "_OTHER" (tracing.OverflowTemplate, semconv.OtherValue). Subjects
// pass it as templates (p.template: the SubjectNamer behind
// tracing.LimitTemplates); every other name passes p.name, one cap per kind
// of name:
//
//	kind           label                            names
//	nameStream     messaging.nats.stream            streams (management calls, consumers)
//	nameGroup      messaging.consumer.group.name    durable names, queue groups
//	nameKVBucket   messaging.nats.kv.bucket         KeyValue buckets
//	nameObjBucket  messaging.nats.obj.bucket        ObjectStore buckets
//
// One cap per kind, because each kind is its own label: many queue groups
// never push a stream name into "_OTHER", and a label never holds more than
// the cap plus "_OTHER". A name keeps the same capped value wherever it
// goes (a stream's management calls, its consumers' receive, process and
// settle operations and their health metrics), so the series join.
//
// The capped name is also the destination of the operation: the
// "<destination>" of its span name and the key of its gate breaker, as for
// subject templates. The Filter still sees the real name, and so does the
// span: when the cap replaced a name, the span carries the real one in the
// same attribute (a durable's is the messaging.nats.consumer span
// attribute): names on spans are not labels.
//
// Ephemeral and ordered consumers have random names and no durable name:
// their group is semconv.ConsumerEphemeral, never their name (health.go).
// Consumer names themselves are span attributes only.
//
// Cost: p.name is called when an operation is declared (a wrapper is
// built, a management call's spec is first cached, a subscription is
// made), never per message, and is the template cap's read-locked map
// lookup.

import (
	"go.opentelemetry.io/otel/attribute"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

// nameKind is a kind of name that reaches a metric label; each kind has its
// own cap.
type nameKind uint8

const (
	nameStream    nameKind = iota // messaging.nats.stream
	nameGroup                     // messaging.consumer.group.name
	nameKVBucket                  // messaging.nats.kv.bucket
	nameObjBucket                 // messaging.nats.obj.bucket
	numNameKinds
)

// nameKeys is the label of each kind of name.
var nameKeys = [numNameKinds]attribute.Key{
	nameStream:    semconv.NATSStreamKey,
	nameGroup:     semconv.MessagingConsumerGroupNameKey,
	nameKVBucket:  semconv.NATSKVBucketKey,
	nameObjBucket: semconv.NATSObjBucketKey,
}

// nameCaps are the caps of one pipeline, one per kind of name. Shared
// read-only after construction (each limiter guards its own set).
type nameCaps [numNameKinds]tracing.SubjectNamer

func identity(s string) string { return s }

func newNameCaps(max int) *nameCaps {
	var c nameCaps
	for k := range c {
		c[k] = tracing.LimitTemplates(identity, max)
	}
	return &c
}

// name returns raw if it is among the first cfg.maxTemplates distinct names
// of kind k this pipeline has seen, else "_OTHER". "" stays "".
func (p *pipeline) name(k nameKind, raw string) string { return p.names.name(k, raw) }

func (c *nameCaps) name(k nameKind, raw string) string {
	if raw == "" {
		return ""
	}
	return c[k](raw)
}

// nameAttrs returns the capped name of raw (kind k), its attribute for
// spans and metrics (none when raw is ""), and the span-only attribute that
// keeps the real name on spans when the cap replaced it.
func (p *pipeline) nameAttrs(k nameKind, raw string) (capped string, attrs, spanOnly []attribute.KeyValue) {
	capped = p.name(k, raw)
	if raw == "" {
		return "", nil, nil
	}
	attrs = []attribute.KeyValue{nameKeys[k].String(capped)}
	if capped != raw {
		spanOnly = []attribute.KeyValue{nameKeys[k].String(raw)}
	}
	return capped, attrs, spanOnly
}

// nameKindOf returns the kind of name recorded under key (a management
// call's stream or bucket attribute).
func nameKindOf(key attribute.Key) (nameKind, bool) {
	for k, nk := range nameKeys {
		if nk == key {
			return nameKind(k), true
		}
	}
	return 0, false
}
