package instrument

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// Shared by the JetStream, KeyValue and ObjectStore wrappers of both APIs
// (new: jetstream.go, stream.go, kv.go, objstore.go; legacy: legacy.go,
// legacy_kv.go): the ways their calls run through the pipeline of
// pipeline.go.

// doWith runs fn as one instrumented call of s (do is doWith without
// attributes) whose span gets per-call attributes, set only when it
// records: attr before fn runs (none when attr.Key is empty), and, after fn
// succeeded, the byte count size(v) as messaging.message.body.size (none
// when size is nil or the count negative). It calls fn straight through for
// an inactive s or a nil ctx, and finishes the call in a defer, panics
// included.
func doWith[T any](ctx context.Context, p *pipeline, s *opSpec, attr attribute.KeyValue, size func(T) int64, fn func(context.Context) (T, error)) (v T, err error) {
	if ctx == nil || !s.active() {
		return fn(ctx)
	}
	var c call
	ctx, err = p.begin(ctx, s, &c)
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

// sendTraced makes the send of a JetStream publish of either API, sync or
// async, inside its call: when withTrace gives a copy of the message
// (subj, data, and msg's reply and header) carrying the trace context of
// ctx, the copy goes out through send (pooled: a pooled copy, put back
// once send returned); when it gives none, or nats.go refused the copy for
// a reason the trace header may be the cause of (refusedHeader), the
// publish goes out as raw nats.go makes it, through raw, with a
// nats.propagation.skipped event unless raw failed alike. msg is the
// caller's message (nil for a subject and payload): it gets what nats.go
// wrote into a copy sent with publish options (withOpts; see sent).
func sendTraced[A any](ctx context.Context, p *pipeline, nc *nats.Conn, subj string, data []byte, msg *nats.Msg, pooled, withOpts bool,
	send func(out *nats.Msg) (A, error), raw func() (A, error)) (A, error) {
	var reply string
	var hdr nats.Header
	if msg != nil {
		reply, hdr = msg.Reply, msg.Header
	}
	out := p.withTrace(ctx, trace.SpanContextFromContext(ctx), nc, subj, reply, hdr, data, pooled)
	if out == nil {
		return raw()
	}
	a, err := send(out)
	retry, reason := refusedHeader(err)
	if retry == nil && msg != nil {
		p.sent(msg, out, withOpts)
	}
	if pooled {
		putMsg(out)
	}
	if retry == nil {
		return a, err
	}
	a, err = raw()
	skippedUnlessSame(ctx, reason, retry, err)
	return a, err
}

// ackFuture is the wrapper's future of an async publish (pubAckFuture,
// legacyPubAckFuture): wait ends the call with nats.go's outcome and then
// hands it over (forwardAck).
type ackFuture interface {
	wait(c call, closed <-chan struct{})
}

// publishAsync runs an async publish of either API as one call of s that
// its future ends: publish(ctx) sends (see sendTraced) and returns nats.go's
// future, which future wraps in the wrapper's; a goroutine counted by fwd
// then waits for the outcome (f.wait). closed (nil: never) is closed when
// the connection closes: nats.go resolves no future after that.
func publishAsync[U any, F ackFuture](ctx context.Context, p *pipeline, s *opSpec, fwd *forwarders, closed <-chan struct{},
	publish func(context.Context) (U, error), future func(U) F) (F, error) {
	var none F
	var c call
	ctx, err := p.begin(ctx, s, &c)
	if err != nil {
		return none, err
	}
	defer c.endOnPanic() // until the future owns the call
	up, err := publish(ctx)
	if err != nil {
		c.end(err)
		return none, err
	}
	f := future(up)
	fwd.add()
	go func() {
		defer fwd.done()
		f.wait(c, closed)
	}()
	return f, nil
}

// connWatch gives the JetStream wrappers of both APIs a channel closed once
// their connection closes (see forwardAck, forwarders.complete).
type connWatch struct {
	once sync.Once
	ch   chan struct{}
}

// closed returns a channel that is closed once nc closes, or nil (never
// ready) when nc is nil. The watcher goroutine behind it starts on first
// use and ends with the connection; nc is only read then.
func (w *connWatch) closed(nc *nats.Conn) <-chan struct{} {
	w.once.Do(func() {
		if nc == nil {
			return
		}
		w.ch = make(chan struct{})
		ch := nc.StatusChanged(nats.CLOSED)
		if nc.IsClosed() {
			nc.RemoveStatusListener(ch)
			close(w.ch)
			return
		}
		go func() {
			<-ch
			close(w.ch)
		}()
	})
	return w.ch
}
