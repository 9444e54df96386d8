package instrument

import (
	"context"

	"go.opentelemetry.io/otel/attribute"

	"github.com/naq-io/naq/internal/semconv"
)

// Shared by the JetStream, KeyValue and ObjectStore wrappers of both APIs
// (new: jetstream.go, stream.go, kv.go, objstore.go; legacy: legacy.go,
// legacy_kv.go): the ways their calls run through the pipeline of
// pipeline.go.

// doWith is do for calls whose span gets per-call attributes, set only
// when it records: attr before fn runs (none when attr.Key is empty), and,
// after fn succeeded, the byte count size(v) as messaging.message.body.size
// (none when size is nil or the count negative). Like do, it calls fn
// straight through for an inactive s or a nil ctx, and finishes the call
// in a defer.
func doWith[T any](ctx context.Context, p *pipeline, s *opSpec, attr attribute.KeyValue, size func(T) int64, fn func(context.Context) (T, error)) (v T, err error) {
	if ctx == nil || !s.active() {
		return fn(ctx)
	}
	ctx, c, err := p.begin(ctx, s)
	if err != nil {
		return v, err
	}
	defer c.finish(&err)
	if attr.Key != "" {
		c.setAttributes(attr)
	}
	v, err = fn(ctx)
	if err == nil && size != nil && c.recording() {
		if n := size(v); n >= 0 {
			c.setAttributes(semconv.MessagingMessageBodySizeKey.Int64(n))
		}
	}
	return v, err
}
