package instrument

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// Operation names of JetStream management calls ("js.<op>"); the span name
// is "<op> <stream|consumer's stream|bucket>".
var (
	opAccountInfo            = semconv.JSOp("account.info")
	opCreateStream           = semconv.JSOp("stream.create")
	opUpdateStream           = semconv.JSOp("stream.update")
	opCreateOrUpdateStream   = semconv.JSOp("stream.create_or_update")
	opStream                 = semconv.JSOp("stream.info")
	opStreamNameBySubject    = semconv.JSOp("stream.name_by_subject")
	opDeleteStream           = semconv.JSOp("stream.delete")
	opStreamInfo             = semconv.JSOp("stream.info")
	opPurgeStream            = semconv.JSOp("stream.purge")
	opGetMsg                 = semconv.JSOp("stream.get_msg")
	opGetLastMsg             = semconv.JSOp("stream.get_last_msg")
	opDeleteMsg              = semconv.JSOp("stream.delete_msg")
	opSecureDeleteMsg        = semconv.JSOp("stream.secure_delete_msg")
	opCreateConsumer         = semconv.JSOp("consumer.create")
	opUpdateConsumer         = semconv.JSOp("consumer.update")
	opCreateOrUpdateConsumer = semconv.JSOp("consumer.create_or_update")
	opOrderedConsumer        = semconv.JSOp("consumer.ordered")
	opConsumer               = semconv.JSOp("consumer.info")
	opDeleteConsumer         = semconv.JSOp("consumer.delete")
	opPauseConsumer          = semconv.JSOp("consumer.pause")
	opResumeConsumer         = semconv.JSOp("consumer.resume")
	opResetConsumer          = semconv.JSOp("consumer.reset")
	opUnpinConsumer          = semconv.JSOp("consumer.unpin")
	opConsumerInfo           = semconv.JSOp("consumer.info")
	opCreatePushConsumer     = semconv.JSOp("push_consumer.create")
	opUpdatePushConsumer     = semconv.JSOp("push_consumer.update")
	opCreateOrUpdatePushCons = semconv.JSOp("push_consumer.create_or_update")
	opPushConsumer           = semconv.JSOp("push_consumer.info")
	opKeyValue               = semconv.JSOp("key_value.bind")
	opCreateKeyValue         = semconv.JSOp("key_value.create")
	opUpdateKeyValue         = semconv.JSOp("key_value.update")
	opCreateOrUpdateKeyValue = semconv.JSOp("key_value.create_or_update")
	opDeleteKeyValue         = semconv.JSOp("key_value.delete")
	opObjectStore            = semconv.JSOp("object_store.bind")
	opCreateObjectStore      = semconv.JSOp("object_store.create")
	opUpdateObjectStore      = semconv.JSOp("object_store.update")
	opCreateOrUpdateObjStore = semconv.JSOp("object_store.create_or_update")
	opDeleteObjectStore      = semconv.JSOp("object_store.delete")
)

// NewJetStream wraps js so that its calls are traced and measured through
// the one operation pipeline; it returns the upstream interface.
//
//   - Publish and PublishMsg start a PRODUCER span "publish <subject
//     template>", send a copy of the message whose header carries the
//     span's trace context (the caller's msg is never given it) and count
//     messaging.client.sent.messages. The trace header is left out, with a
//     nats.propagation.skipped span event, when the server does not
//     support headers or when it would push the message past max_payload:
//     the message then goes out exactly as raw nats.go sends it.
//   - PublishAsync and PublishMsgAsync do the same, and the span and meters
//     end when the returned future resolves or fails (see PubAckFuture
//     below).
//   - Stream, consumer, KeyValue and ObjectStore management calls and
//     AccountInfo are CLIENT spans "js.<op> <name>".
//   - The Stream, Consumer, PushConsumer and KeyValue handles returned are
//     wrapped as well (consumers with process, receive and settle spans, see
//     the Consumer wrapper); ObjectStore handles are returned unwrapped,
//     and their management spans name the bucket in the span name only.
//
// Methods not listed (ListStreams, StreamNames, KeyValueStores, Conn,
// Options, PublishAsyncPending, CleanupPublisher, and anything nats.go adds
// later) call js directly, untraced. PublishAsyncComplete waits for the
// wrapper's futures too (see below).
//
// The future returned by PublishAsync and PublishMsgAsync is the
// wrapper's own: its Ok and Err channels receive the upstream future's
// result after the span has ended. A goroutine per pending future waits for
// that result; it ends when the future resolves or fails, which nats.go
// guarantees for every future except when the connection closes first
// (nats.go then never resolves pending futures). For that case one watcher
// goroutine per wrapper, started with the first asynchronous publish, ends
// every pending span with error.type=connection_closed and stops when the
// connection closes. Use jetstream.WithPublishAsyncTimeout to bound the wait
// for acks that never come. The future's Msg is the caller's message (for
// PublishAsync, one built from subject and payload), as with nats.go, and
// the channel of PublishAsyncComplete closes only once every future the
// wrapper returned has its outcome on its channel.
//
// A nil js returns nil. Wrapping a wrapper does not instrument twice: with
// no options it returns it as is, with options it re-wraps the original. The
// wrapper is safe for concurrent use, like js.
func NewJetStream(js jetstream.JetStream, opts ...Option) jetstream.JetStream {
	if js == nil {
		return nil
	}
	if w, ok := js.(*jetStream); ok { // never instrument twice
		if len(opts) == 0 {
			return w
		}
		js = w.JetStream
	}
	return newJetStream(js, newPipeline(js.Conn(), opts))
}

func newJetStream(js jetstream.JetStream, p *pipeline) *jetStream {
	return &jetStream{
		JetStream: js,
		p:         p,
		mgmt:      &mgmtSpecs{p: p},
		publish: p.family(specConfig{
			Op: semconv.OpPublish, OpType: semconv.OpTypeSend, Kind: trace.SpanKindProducer,
			Gate: gateJSPublish,
		}),
	}
}

// jetStream is the instrumented jetstream.JetStream.
type jetStream struct {
	jetstream.JetStream
	p       *pipeline
	mgmt    *mgmtSpecs
	publish *specFamily

	consumers  sync.Map // consumerKey → *consumerSpecs
	nConsumers atomic.Int32

	conn connWatch // closed when the connection closes

	// Futures whose upstream outcome is not yet on the wrapper future's
	// channels (see PublishAsyncComplete).
	fwd forwarders // async-publish futures still handing over their outcome
}

var _ jetstream.JetStream = (*jetStream)(nil)

// mgmtSpecs caches the specs of management calls per (operation, name).
type mgmtSpecs struct {
	p     *pipeline
	specs sync.Map // mgmtKey → *opSpec
	n     atomic.Int32
}

type mgmtKey struct {
	op, name string
	key      attribute.Key
}

// maxMgmtSpecs bounds the management spec cache; beyond it specs are built
// per call (correct, only slower).
const maxMgmtSpecs = 1024

// spec returns the spec of management call op on name (stream, bucket;
// may be empty), with name recorded under key (if key is not empty). The
// name passes the cap of its kind (names.go): the span name, the label and
// the gate's breaker carry the capped name, the Filter and the span the
// real one.
func (m *mgmtSpecs) spec(op, name string, key attribute.Key) *opSpec {
	k := mgmtKey{op: op, name: name, key: key}
	if v, ok := m.specs.Load(k); ok {
		return v.(*opSpec)
	}
	sc := specConfig{Op: op, Kind: trace.SpanKindClient, Dest: name, FilterDest: name, NoDestAttrs: true, Gate: gateJS}
	if kind, ok := nameKindOf(key); ok {
		sc.Dest, sc.Attrs, sc.SpanAttrs = m.p.nameAttrs(kind, name)
	}
	return storeBounded(&m.specs, &m.n, k, m.p.spec(sc))
}

// storeBounded stores v under k in m, whose entries n counts, unless m
// holds maxMgmtSpecs entries already; it returns what m holds for k, or v
// when m is full. The caches of specs per management call, per consumer
// and per legacy consumer key use it.
func storeBounded[K comparable, V any](m *sync.Map, n *atomic.Int32, k K, v V) V {
	if n.Load() >= maxMgmtSpecs {
		return v
	}
	got, loaded := m.LoadOrStore(k, v)
	if !loaded {
		n.Add(1)
	}
	return got.(V)
}

// streamOp runs a management call on stream.
func streamOp[T any](ctx context.Context, m *mgmtSpecs, op, stream string, fn func(context.Context) (T, error)) (T, error) {
	return do(ctx, m.p, m.spec(op, stream, semconv.NATSStreamKey), fn)
}

// streamRun is streamOp for calls that return only an error.
func streamRun(ctx context.Context, m *mgmtSpecs, op, stream string, fn func(context.Context) error) error {
	return run(ctx, m.p, m.spec(op, stream, semconv.NATSStreamKey), fn)
}

// wrapped runs a management call on name (recorded under key, see
// mgmtSpecs.spec) that returns a handle (Stream, Consumer, KeyValue,
// ObjectStore; new or legacy API), and wraps a non-nil handle with wrap.
func wrapped[T any](ctx context.Context, m *mgmtSpecs, op, name string, key attribute.Key, fn func(context.Context) (T, error), wrap func(T) T) (T, error) {
	v, err := do(ctx, m.p, m.spec(op, name, key), fn)
	if err != nil || any(v) == nil {
		return v, err
	}
	return wrap(v), nil
}

// --- publishing ---

// Publish publishes payload to subject as a PRODUCER span.
func (j *jetStream) Publish(ctx context.Context, subject string, payload []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	s := j.publish.spec(subject)
	if !s.active() || ctx == nil { // nil: nats.go's own behaviour, untouched
		return j.JetStream.Publish(ctx, subject, payload, opts...)
	}
	return j.publishMsg(ctx, s, &nats.Msg{Subject: subject, Data: payload}, opts)
}

// PublishMsg publishes msg as a PRODUCER span. The message sent carries
// msg's headers plus the trace context; the trace context is never written
// into msg (see publishMsg for the headers nats.go's options add).
func (j *jetStream) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if msg == nil || ctx == nil {
		return j.JetStream.PublishMsg(ctx, msg, opts...)
	}
	s := j.publish.spec(msg.Subject)
	if !s.active() {
		return j.JetStream.PublishMsg(ctx, msg, opts...)
	}
	return j.publishMsg(ctx, s, msg, opts)
}

// publishMsg publishes msg through the pipeline. When there is trace
// context to propagate it sends a copy of msg carrying it (msg itself is
// never given the trace header, so one message published from several
// goroutines is not written concurrently); see sent for what is done after
// nats.go returns.
func (j *jetStream) publishMsg(ctx context.Context, s *opSpec, msg *nats.Msg, opts []jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return do(ctx, j.p, s, func(ctx context.Context) (*jetstream.PubAck, error) {
		return sendTraced(ctx, j.p, j.JetStream.Conn(), msg.Subject, msg.Data, msg, false, len(opts) > 0,
			func(out *nats.Msg) (*jetstream.PubAck, error) { return j.JetStream.PublishMsg(ctx, out, opts...) },
			func() (*jetstream.PubAck, error) { return j.JetStream.PublishMsg(ctx, msg, opts...) })
	})
}

// refusedHeader reports whether nats.go refused a traced copy, before
// sending anything, for a reason the trace header may be the cause of:
// nats.ErrMaxPayload (the headers nats.go's publish options add (message
// id, expectations, TTL, schedules), a max_payload changed since withTrace
// checked it, or a connection the wrapper does not know, pushed the copy
// over) or nats.ErrHeadersNotSupported (a server the wrapper could not
// check, or one that changed). The caller's own message must then be sent
// as raw nats.go sends it; reason is the nats.propagation.skipped event's,
// which skippedUnlessSame adds. Both JetStream wrappers (new and legacy
// API) use them.
func refusedHeader(err error) (retry error, reason []trace.EventOption) {
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, nats.ErrMaxPayload):
		return nats.ErrMaxPayload, skipMaxPayload
	case errors.Is(err, nats.ErrHeadersNotSupported):
		return nats.ErrHeadersNotSupported, skipHeadersUnsupported
	}
	return nil, nil
}

// skippedUnlessSame adds the nats.propagation.skipped event unless the raw
// resend failed for the same reason (the header was not the cause).
func skippedUnlessSame(ctx context.Context, reason []trace.EventOption, refused, err error) {
	if !errors.Is(err, refused) {
		propagationSkipped(ctx, reason)
	}
}

// sent gives the caller's msg the side effects raw nats.go would have had
// on it after publishing out, the traced copy of msg: with publish options
// (withOpts) nats.go allocates a nil header and sets the option headers
// (Nats-Msg-Id, Nats-Expected-*, Nats-TTL, schedules) on the message it is
// given, so a caller that reuses msg sees (and sends again) the same headers
// as with raw nats.go. Only keys nats.go added or changed are copied back,
// never the keys the propagators write nor the Nats-Trace-Dest of
// WithServerTrace. Without options nats.go writes
// nothing and neither does sent. Both JetStream wrappers (new and legacy
// API) use it.
func (p *pipeline) sent(msg, out *nats.Msg, withOpts bool) {
	if !withOpts {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	var fields []string
	for k, v := range out.Header {
		if cur, ok := msg.Header[k]; (ok && slices.Equal(cur, v)) || k == traceDestHeader {
			continue
		}
		if fields == nil {
			fields = p.prop.Fields()
		}
		if slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, k) }) {
			continue
		}
		msg.Header[k] = v
	}
}

// PublishAsync publishes payload to subject without waiting for the ack;
// the PRODUCER span ends when the returned future resolves or fails.
func (j *jetStream) PublishAsync(subject string, payload []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	s := j.publish.spec(subject)
	if !s.active() {
		return j.JetStream.PublishAsync(subject, payload, opts...)
	}
	return j.publishMsgAsync(s, &nats.Msg{Subject: subject, Data: payload}, opts)
}

// PublishMsgAsync publishes msg without waiting for the ack; the PRODUCER
// span ends when the returned future resolves or fails. The message sent
// carries msg's headers plus the trace context; the trace context is never
// written into msg, and the future's Msg returns msg, as nats.go's does.
func (j *jetStream) PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if msg == nil {
		return j.JetStream.PublishMsgAsync(msg, opts...)
	}
	s := j.publish.spec(msg.Subject)
	if !s.active() {
		return j.JetStream.PublishMsgAsync(msg, opts...)
	}
	return j.publishMsgAsync(s, msg, opts)
}

// publishMsgAsync is publishMsg for the async publishes. The copy carrying
// the trace context is not pooled: nats.go keeps it in its ack future (and
// publishes it again on a no-responders retry).
func (j *jetStream) publishMsgAsync(s *opSpec, msg *nats.Msg, opts []jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	closed := j.connClosed() // before begin: nothing to end if this fails
	f, err := publishAsync(context.Background(), j.p, s, &j.fwd, closed,
		func(ctx context.Context) (jetstream.PubAckFuture, error) {
			return sendTraced(ctx, j.p, j.JetStream.Conn(), msg.Subject, msg.Data, msg, false, len(opts) > 0,
				func(out *nats.Msg) (jetstream.PubAckFuture, error) { return j.JetStream.PublishMsgAsync(out, opts...) },
				func() (jetstream.PubAckFuture, error) { return j.JetStream.PublishMsgAsync(msg, opts...) })
		},
		func(up jetstream.PubAckFuture) *pubAckFuture {
			return &pubAckFuture{PubAckFuture: up, msg: msg, ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1)}
		})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// PublishAsyncComplete returns a channel that is closed once every pending
// async publish has its outcome, like nats.go's, and, for the futures this
// wrapper returned, once that outcome is on their Ok or Err channel: a
// caller that checks its futures without blocking after the channel closed
// finds them resolved, as with raw nats.go. Like nats.go's, the channel is
// never closed when the connection closes with acks still pending.
func (j *jetStream) PublishAsyncComplete() <-chan struct{} {
	return j.fwd.complete(j.JetStream.PublishAsyncComplete(), j.connClosed())
}

// pubAckFuture is the future returned by the async publishes: it hands the
// upstream result over after the span has ended. legacyPubAckFuture is its
// twin for the legacy API: each embeds its own API's future interface
// (methods nats.go adds later keep working), which one generic type
// cannot; publishAsync and forwardAck do the work of both.
type pubAckFuture struct {
	jetstream.PubAckFuture
	msg *nats.Msg // the caller's message (nats.go's future holds the traced copy)
	ok  chan *jetstream.PubAck
	err chan error
}

var _ jetstream.PubAckFuture = (*pubAckFuture)(nil)

// Ok returns a channel that receives the ack once, like the upstream one.
func (f *pubAckFuture) Ok() <-chan *jetstream.PubAck { return f.ok }

// Err returns a channel that receives the error once, like the upstream one.
func (f *pubAckFuture) Err() <-chan error { return f.err }

// Msg returns the message the caller published (for PublishAsync, one
// built from subject and payload), as nats.go's future does: with the
// headers nats.go's publish options added, without the trace context.
func (f *pubAckFuture) Msg() *nats.Msg { return f.msg }

// wait ends the call with the upstream outcome and then forwards it (see
// forwardAck).
func (f *pubAckFuture) wait(c call, closed <-chan struct{}) {
	forwardAck[*jetstream.PubAck](c, f.PubAckFuture, closed, f.ok, f.err)
}

// ackSource is nats.go's async publish future, new or legacy API.
type ackSource[A any] interface {
	Ok() <-chan A
	Err() <-chan error
}

// forwardAck waits for the outcome of an async publish on up, ends
// c with it (in a defer, so a panic still ends the span), and then forwards
// it to ok or errc, which must be buffered so that it never blocks on a
// caller that does not read. When the connection closes (closed) with the
// outcome still pending, nats.go never resolves the future: neither does
// the wrapper, but the span ends with nats.ErrConnectionClosed. The outcome
// may race the close: it is preferred when it is there. A nil closed never
// fires. Both JetStream wrappers (new and legacy API) use it.
func forwardAck[A any](c call, up ackSource[A], closed <-chan struct{}, ok chan<- A, errc chan<- error) {
	resolved, ack, err := awaitAck(&c, up, closed)
	switch {
	case !resolved:
	case err != nil:
		errc <- err
	default:
		ok <- ack
	}
}

func awaitAck[A any](c *call, up ackSource[A], closed <-chan struct{}) (resolved bool, ack A, err error) {
	defer c.finish(&err)
	upOk, upErr := up.Ok(), up.Err()
	select {
	case ack = <-upOk:
		return true, ack, nil
	case err = <-upErr:
		return true, ack, err
	case <-closed:
	}
	select {
	case ack = <-upOk:
		return true, ack, nil
	case err = <-upErr:
		return true, ack, err
	default:
		return false, ack, nats.ErrConnectionClosed
	}
}

// connClosed returns a channel that is closed once the connection of the
// wrapped JetStream context closes (see connWatch).
func (j *jetStream) connClosed() <-chan struct{} { return j.conn.closed(j.JetStream.Conn()) }

// --- account and streams ---

// AccountInfo is traced as "js.account.info".
func (j *jetStream) AccountInfo(ctx context.Context) (*jetstream.AccountInfo, error) {
	return do(ctx, j.p, j.mgmt.spec(opAccountInfo, "", ""), j.JetStream.AccountInfo)
}

// CreateStream is traced as "js.stream.create <stream>"; the Stream
// returned is wrapped.
func (j *jetStream) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return j.streamOp(ctx, opCreateStream, cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return j.JetStream.CreateStream(ctx, cfg)
	})
}

// UpdateStream is traced as "js.stream.update <stream>"; the Stream
// returned is wrapped.
func (j *jetStream) UpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return j.streamOp(ctx, opUpdateStream, cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return j.JetStream.UpdateStream(ctx, cfg)
	})
}

// CreateOrUpdateStream is traced as "js.stream.create_or_update <stream>";
// the Stream returned is wrapped.
func (j *jetStream) CreateOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return j.streamOp(ctx, opCreateOrUpdateStream, cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return j.JetStream.CreateOrUpdateStream(ctx, cfg)
	})
}

// Stream is traced as "js.stream.info <stream>"; the Stream returned is wrapped.
func (j *jetStream) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	return j.streamOp(ctx, opStream, name, func(ctx context.Context) (jetstream.Stream, error) {
		return j.JetStream.Stream(ctx, name)
	})
}

// StreamNameBySubject is traced as "js.stream.name_by_subject" (the
// subject is not recorded).
func (j *jetStream) StreamNameBySubject(ctx context.Context, subject string) (string, error) {
	return do(ctx, j.p, j.mgmt.spec(opStreamNameBySubject, "", ""), func(ctx context.Context) (string, error) {
		return j.JetStream.StreamNameBySubject(ctx, subject)
	})
}

// DeleteStream is traced as "js.stream.delete <stream>".
func (j *jetStream) DeleteStream(ctx context.Context, name string) error {
	return streamRun(ctx, j.mgmt, opDeleteStream, name, func(ctx context.Context) error {
		return j.JetStream.DeleteStream(ctx, name)
	})
}

// streamOp runs management call op on stream name and wraps the Stream it
// returns.
func (j *jetStream) streamOp(ctx context.Context, op, name string, fn func(context.Context) (jetstream.Stream, error)) (jetstream.Stream, error) {
	return wrapped(ctx, j.mgmt, op, name, semconv.NATSStreamKey, fn, func(s jetstream.Stream) jetstream.Stream {
		return &stream{Stream: s, js: j, name: streamName(s)}
	})
}

func streamName(s jetstream.Stream) string {
	if info := s.CachedInfo(); info != nil {
		return info.Config.Name
	}
	return ""
}

// --- consumers ---

// CreateOrUpdateConsumer is traced as "js.consumer.create_or_update
// <stream>"; the Consumer returned is wrapped.
func (j *jetStream) CreateOrUpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return j.consumerOp(ctx, opCreateOrUpdateConsumer, stream, func(ctx context.Context) (jetstream.Consumer, error) {
		return j.JetStream.CreateOrUpdateConsumer(ctx, stream, cfg)
	})
}

// CreateConsumer is traced as "js.consumer.create <stream>"; the Consumer
// returned is wrapped.
func (j *jetStream) CreateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return j.consumerOp(ctx, opCreateConsumer, stream, func(ctx context.Context) (jetstream.Consumer, error) {
		return j.JetStream.CreateConsumer(ctx, stream, cfg)
	})
}

// UpdateConsumer is traced as "js.consumer.update <stream>"; the Consumer
// returned is wrapped.
func (j *jetStream) UpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return j.consumerOp(ctx, opUpdateConsumer, stream, func(ctx context.Context) (jetstream.Consumer, error) {
		return j.JetStream.UpdateConsumer(ctx, stream, cfg)
	})
}

// OrderedConsumer is traced as "js.consumer.ordered <stream>"; the Consumer
// returned is wrapped.
func (j *jetStream) OrderedConsumer(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	return j.consumerOp(ctx, opOrderedConsumer, stream, func(ctx context.Context) (jetstream.Consumer, error) {
		return j.JetStream.OrderedConsumer(ctx, stream, cfg)
	})
}

// Consumer is traced as "js.consumer.info <stream>"; the Consumer returned is
// wrapped.
func (j *jetStream) Consumer(ctx context.Context, stream string, name string) (jetstream.Consumer, error) {
	return j.consumerOp(ctx, opConsumer, stream, func(ctx context.Context) (jetstream.Consumer, error) {
		return j.JetStream.Consumer(ctx, stream, name)
	})
}

// DeleteConsumer is traced as "js.consumer.delete <stream>".
func (j *jetStream) DeleteConsumer(ctx context.Context, stream string, name string) error {
	return streamRun(ctx, j.mgmt, opDeleteConsumer, stream, func(ctx context.Context) error {
		return j.JetStream.DeleteConsumer(ctx, stream, name)
	})
}

// PauseConsumer is traced as "js.consumer.pause <stream>".
func (j *jetStream) PauseConsumer(ctx context.Context, stream string, name string, pauseUntil time.Time) (*jetstream.ConsumerPauseResponse, error) {
	return streamOp(ctx, j.mgmt, opPauseConsumer, stream, func(ctx context.Context) (*jetstream.ConsumerPauseResponse, error) {
		return j.JetStream.PauseConsumer(ctx, stream, name, pauseUntil)
	})
}

// ResumeConsumer is traced as "js.consumer.resume <stream>".
func (j *jetStream) ResumeConsumer(ctx context.Context, stream string, name string) (*jetstream.ConsumerPauseResponse, error) {
	return streamOp(ctx, j.mgmt, opResumeConsumer, stream, func(ctx context.Context) (*jetstream.ConsumerPauseResponse, error) {
		return j.JetStream.ResumeConsumer(ctx, stream, name)
	})
}

// ResetConsumer is traced as "js.consumer.reset <stream>".
func (j *jetStream) ResetConsumer(ctx context.Context, stream, name string) (*jetstream.ConsumerResetResponse, error) {
	return streamOp(ctx, j.mgmt, opResetConsumer, stream, func(ctx context.Context) (*jetstream.ConsumerResetResponse, error) {
		return j.JetStream.ResetConsumer(ctx, stream, name)
	})
}

// ResetConsumerToSequence is traced as "js.consumer.reset <stream>".
func (j *jetStream) ResetConsumerToSequence(ctx context.Context, stream, name string, seq uint64) (*jetstream.ConsumerResetResponse, error) {
	return streamOp(ctx, j.mgmt, opResetConsumer, stream, func(ctx context.Context) (*jetstream.ConsumerResetResponse, error) {
		return j.JetStream.ResetConsumerToSequence(ctx, stream, name, seq)
	})
}

// CreateOrUpdatePushConsumer is traced as
// "js.push_consumer.create_or_update <stream>"; the PushConsumer returned is
// wrapped.
func (j *jetStream) CreateOrUpdatePushConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.PushConsumer, error) {
	return j.pushConsumerOp(ctx, opCreateOrUpdatePushCons, stream, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return j.JetStream.CreateOrUpdatePushConsumer(ctx, stream, cfg)
	})
}

// CreatePushConsumer is traced as "js.push_consumer.create <stream>"; the
// PushConsumer returned is wrapped.
func (j *jetStream) CreatePushConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.PushConsumer, error) {
	return j.pushConsumerOp(ctx, opCreatePushConsumer, stream, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return j.JetStream.CreatePushConsumer(ctx, stream, cfg)
	})
}

// UpdatePushConsumer is traced as "js.push_consumer.update <stream>"; the
// PushConsumer returned is wrapped.
func (j *jetStream) UpdatePushConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.PushConsumer, error) {
	return j.pushConsumerOp(ctx, opUpdatePushConsumer, stream, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return j.JetStream.UpdatePushConsumer(ctx, stream, cfg)
	})
}

// PushConsumer is traced as "js.push_consumer.info <stream>"; the PushConsumer
// returned is wrapped.
func (j *jetStream) PushConsumer(ctx context.Context, stream string, name string) (jetstream.PushConsumer, error) {
	return j.pushConsumerOp(ctx, opPushConsumer, stream, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return j.JetStream.PushConsumer(ctx, stream, name)
	})
}

// consumerOp runs consumer-management call op on stream and wraps the
// Consumer it returns. The management methods of jetStream and stream
// that use it and its siblings (streamOp, pushConsumerOp, kvOp, objOp)
// stay one small method per interface method, alike in shape: each only
// names its operation and its upstream call.
func (j *jetStream) consumerOp(ctx context.Context, op, stream string, fn func(context.Context) (jetstream.Consumer, error)) (jetstream.Consumer, error) {
	return wrapped(ctx, j.mgmt, op, stream, semconv.NATSStreamKey, fn, func(c jetstream.Consumer) jetstream.Consumer {
		return newConsumer(c, j, stream)
	})
}

// pushConsumerOp is consumerOp for a PushConsumer.
func (j *jetStream) pushConsumerOp(ctx context.Context, op, stream string, fn func(context.Context) (jetstream.PushConsumer, error)) (jetstream.PushConsumer, error) {
	return wrapped(ctx, j.mgmt, op, stream, semconv.NATSStreamKey, fn, func(c jetstream.PushConsumer) jetstream.PushConsumer {
		return newPushConsumer(c, j, stream)
	})
}

// --- KeyValue and ObjectStore management ---

// kvOp runs management call op on bucket and wraps the KeyValue it
// returns.
func (j *jetStream) kvOp(ctx context.Context, op, bucket string, fn func(context.Context) (jetstream.KeyValue, error)) (jetstream.KeyValue, error) {
	return wrapped(ctx, j.mgmt, op, bucket, semconv.NATSKVBucketKey, fn, func(kv jetstream.KeyValue) jetstream.KeyValue {
		return newKeyValue(kv, j.p)
	})
}

// objOp runs management call op on bucket and wraps the ObjectStore it
// returns.
func (j *jetStream) objOp(ctx context.Context, op, bucket string, fn func(context.Context) (jetstream.ObjectStore, error)) (jetstream.ObjectStore, error) {
	return wrapped(ctx, j.mgmt, op, bucket, semconv.NATSObjBucketKey, fn, func(os jetstream.ObjectStore) jetstream.ObjectStore {
		return newObjectStore(j.p, os)
	})
}

// KeyValue is traced as "js.key_value.bind <bucket>"; the KeyValue returned is
// wrapped.
func (j *jetStream) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	return j.kvOp(ctx, opKeyValue, bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return j.JetStream.KeyValue(ctx, bucket)
	})
}

// CreateKeyValue is traced as "js.key_value.create <bucket>"; the KeyValue
// returned is wrapped.
func (j *jetStream) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return j.kvOp(ctx, opCreateKeyValue, cfg.Bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return j.JetStream.CreateKeyValue(ctx, cfg)
	})
}

// UpdateKeyValue is traced as "js.key_value.update <bucket>"; the KeyValue
// returned is wrapped.
func (j *jetStream) UpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return j.kvOp(ctx, opUpdateKeyValue, cfg.Bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return j.JetStream.UpdateKeyValue(ctx, cfg)
	})
}

// CreateOrUpdateKeyValue is traced as "js.key_value.create_or_update
// <bucket>"; the KeyValue returned is wrapped.
func (j *jetStream) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return j.kvOp(ctx, opCreateOrUpdateKeyValue, cfg.Bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return j.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
	})
}

// DeleteKeyValue is traced as "js.key_value.delete <bucket>".
func (j *jetStream) DeleteKeyValue(ctx context.Context, bucket string) error {
	return run(ctx, j.p, j.mgmt.spec(opDeleteKeyValue, bucket, semconv.NATSKVBucketKey), func(ctx context.Context) error {
		return j.JetStream.DeleteKeyValue(ctx, bucket)
	})
}

// ObjectStore is traced as "js.object_store.bind <bucket>"; the ObjectStore
// returned is not wrapped.
func (j *jetStream) ObjectStore(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
	return j.objOp(ctx, opObjectStore, bucket, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return j.JetStream.ObjectStore(ctx, bucket)
	})
}

// CreateObjectStore is traced as "js.object_store.create <bucket>"; the
// ObjectStore returned is not wrapped.
func (j *jetStream) CreateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return j.objOp(ctx, opCreateObjectStore, cfg.Bucket, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return j.JetStream.CreateObjectStore(ctx, cfg)
	})
}

// UpdateObjectStore is traced as "js.object_store.update <bucket>"; the
// ObjectStore returned is not wrapped.
func (j *jetStream) UpdateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return j.objOp(ctx, opUpdateObjectStore, cfg.Bucket, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return j.JetStream.UpdateObjectStore(ctx, cfg)
	})
}

// CreateOrUpdateObjectStore is traced as "js.object_store.create_or_update
// <bucket>"; the ObjectStore returned is not wrapped.
func (j *jetStream) CreateOrUpdateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return j.objOp(ctx, opCreateOrUpdateObjStore, cfg.Bucket, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return j.JetStream.CreateOrUpdateObjectStore(ctx, cfg)
	})
}

// DeleteObjectStore is traced as "js.object_store.delete <bucket>".
func (j *jetStream) DeleteObjectStore(ctx context.Context, bucket string) error {
	return run(ctx, j.p, j.mgmt.spec(opDeleteObjectStore, bucket, semconv.NATSObjBucketKey), func(ctx context.Context) error {
		return j.JetStream.DeleteObjectStore(ctx, bucket)
	})
}

// forwarders counts the goroutines that hand the outcome of an async
// publish over to the wrapper's future (both JetStream wrappers use one), so
// that PublishAsyncComplete can wait for them. Its lock guards only its own
// fields.
type forwarders struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while nobody waits
}

func (f *forwarders) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *forwarders) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// wait returns a channel closed once no forwarder is running.
func (f *forwarders) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	return f.idle
}

// complete returns a channel closed once up (nats.go's PublishAsyncComplete)
// is closed and every forwarder has handed its outcome over. When the
// connection closes (closed) with acks pending, nats.go never closes up, and
// neither is the returned channel closed.
func (f *forwarders) complete(up, closed <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		select {
		case <-up:
		case <-closed:
			select {
			case <-up:
			default:
				return // nats.go never closes up now; neither do we
			}
		}
		<-f.wait() // forwarders always end: outcome or connection close
		close(out)
	}()
	return out
}
