package instrument

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// NewKeyValue wraps kv so that its calls are traced and measured through
// the one operation pipeline; it returns the upstream interface.
//
//   - Get, GetRevision, Put, PutString, Create, Update, Delete, Purge,
//     PurgeDeletes, Keys, ListKeys, ListKeysFiltered, History and Status
//     are CLIENT spans "kv.<op> <bucket>" (GetRevision is kv.get, PutString
//     kv.put, ListKeys and ListKeysFiltered kv.keys, PurgeDeletes kv.purge)
//     with messaging.nats.kv.bucket, and a
//     messaging.client.operation.duration data point each.
//   - Watch, WatchAll and WatchFiltered return a watcher whose every update
//     is a CONSUMER span "kv.watch <bucket>" (messaging.process.duration,
//     messaging.client.consumed.messages) lasting until the update is handed
//     to the caller's channel. A goroutine per watcher forwards the updates;
//     it ends when nats.go closes the watcher's channel: after Stop, when
//     the context given to Watch ends, or when the connection closes. Once
//     stopped or past its context it never waits for a caller that no
//     longer reads.
//
// Keys are recorded (span attribute messaging.nats.kv.key, never a metric
// label) only with [WithKVKeys](true); values never are. Errors are
// returned unchanged: errors.Is(err, jetstream.ErrKeyNotFound) holds, and
// with the default [ErrorClassifier] a missing key is an expected miss, not
// a failure. Bucket and methods nats.go adds later call kv directly.
//
// A nil kv returns nil. Wrapping a wrapper does not instrument twice: with
// no options it returns it as is, with options it re-wraps the original. The
// wrapper is safe for concurrent use, like kv.
func NewKeyValue(kv jetstream.KeyValue, opts ...Option) jetstream.KeyValue {
	if kv == nil {
		return nil
	}
	if w, ok := kv.(*keyValue); ok { // never instrument twice
		if len(opts) == 0 {
			return w
		}
		kv = w.KeyValue
	}
	return newKeyValue(kv, newPipeline(nil, opts))
}

// keyValue is the instrumented jetstream.KeyValue.
type keyValue struct {
	jetstream.KeyValue
	kvSpecs
}

var _ jetstream.KeyValue = (*keyValue)(nil)

func newKeyValue(kv jetstream.KeyValue, p *pipeline) *keyValue {
	return &keyValue{KeyValue: kv, kvSpecs: newKVSpecs(p, kv.Bucket(), true)}
}

// kvSpecs are the operations of one bucket, shared by the new and legacy
// KeyValue wrappers (legacy_kv.go).
type kvSpecs struct {
	p                                          *pipeline
	get, put, create, update, del, purge, keys *opSpec
	history, status                            *opSpec
	watch                                      *opSpec // nil unless asked for (new API)
}

// newKVSpecs declares the operations on bucket, with the watch updates'
// process spans when watch is set.
func newKVSpecs(p *pipeline, bucket string, watch bool) kvSpecs {
	dest, attrs, spanAttrs := p.nameAttrs(nameKVBucket, bucket) // the cap of names.go
	mk := func(op string) *opSpec {
		return p.spec(specConfig{
			Op: op, Kind: trace.SpanKindClient, Dest: dest, FilterDest: bucket, NoDestAttrs: true,
			Attrs: attrs, SpanAttrs: spanAttrs, Gate: gateKV,
		})
	}
	s := kvSpecs{
		p:       p,
		get:     mk(semconv.OpKVGet),
		put:     mk(semconv.OpKVPut),
		create:  mk(semconv.OpKVCreate),
		update:  mk(semconv.OpKVUpdate),
		del:     mk(semconv.OpKVDelete),
		purge:   mk(semconv.OpKVPurge),
		keys:    mk(semconv.OpKVKeys),
		history: mk(semconv.OpKVHistory),
		status:  mk(semconv.OpKVStatus),
	}
	if watch {
		s.watch = p.spec(specConfig{
			Op: semconv.OpKVWatch, OpType: semconv.OpTypeProcess, Kind: trace.SpanKindConsumer,
			Dest: dest, FilterDest: bucket, NoDestAttrs: true, Attrs: attrs, SpanAttrs: spanAttrs,
		})
	}
	return s
}

// kvDo runs one KeyValue call of s (new or legacy API) through the
// pipeline, recording key when keys are opted in. A nil ctx goes to
// nats.go untouched (the pipeline would replace it with
// context.Background and change what nats.go does with it).
func kvDo[T any](ctx context.Context, p *pipeline, s *opSpec, key string, fn func(context.Context) (T, error)) (T, error) {
	var attr attribute.KeyValue
	if key != "" && p.cfg.kvKeys {
		attr = semconv.NATSKVKeyKey.String(key)
	}
	return doWith(ctx, p, s, attr, nil, fn)
}

// kvRun is kvDo for calls that return only an error.
func kvRun(ctx context.Context, p *pipeline, s *opSpec, key string, fn func(context.Context) error) error {
	_, err := kvDo(ctx, p, s, key, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// Get is traced as "kv.get <bucket>".
func (kv *keyValue) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	return kvDo(ctx, kv.p, kv.get, key, func(ctx context.Context) (jetstream.KeyValueEntry, error) {
		return kv.KeyValue.Get(ctx, key)
	})
}

// GetRevision is traced as "kv.get <bucket>".
func (kv *keyValue) GetRevision(ctx context.Context, key string, revision uint64) (jetstream.KeyValueEntry, error) {
	return kvDo(ctx, kv.p, kv.get, key, func(ctx context.Context) (jetstream.KeyValueEntry, error) {
		return kv.KeyValue.GetRevision(ctx, key, revision)
	})
}

// Put is traced as "kv.put <bucket>".
func (kv *keyValue) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return kvDo(ctx, kv.p, kv.put, key, func(ctx context.Context) (uint64, error) {
		return kv.KeyValue.Put(ctx, key, value)
	})
}

// PutString is traced as "kv.put <bucket>".
func (kv *keyValue) PutString(ctx context.Context, key string, value string) (uint64, error) {
	return kvDo(ctx, kv.p, kv.put, key, func(ctx context.Context) (uint64, error) {
		return kv.KeyValue.PutString(ctx, key, value)
	})
}

// Create is traced as "kv.create <bucket>".
func (kv *keyValue) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	return kvDo(ctx, kv.p, kv.create, key, func(ctx context.Context) (uint64, error) {
		return kv.KeyValue.Create(ctx, key, value, opts...)
	})
}

// Update is traced as "kv.update <bucket>".
func (kv *keyValue) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	return kvDo(ctx, kv.p, kv.update, key, func(ctx context.Context) (uint64, error) {
		return kv.KeyValue.Update(ctx, key, value, revision)
	})
}

// Delete is traced as "kv.delete <bucket>".
func (kv *keyValue) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return kvRun(ctx, kv.p, kv.del, key, func(ctx context.Context) error {
		return kv.KeyValue.Delete(ctx, key, opts...)
	})
}

// Purge is traced as "kv.purge <bucket>".
func (kv *keyValue) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return kvRun(ctx, kv.p, kv.purge, key, func(ctx context.Context) error {
		return kv.KeyValue.Purge(ctx, key, opts...)
	})
}

// PurgeDeletes is traced as "kv.purge <bucket>" without a key.
func (kv *keyValue) PurgeDeletes(ctx context.Context, opts ...jetstream.KVPurgeOpt) error {
	return kvRun(ctx, kv.p, kv.purge, "", func(ctx context.Context) error {
		return kv.KeyValue.PurgeDeletes(ctx, opts...)
	})
}

// Keys is traced as "kv.keys <bucket>".
func (kv *keyValue) Keys(ctx context.Context, opts ...jetstream.WatchOpt) ([]string, error) {
	return kvDo(ctx, kv.p, kv.keys, "", func(ctx context.Context) ([]string, error) {
		return kv.KeyValue.Keys(ctx, opts...)
	})
}

// ListKeys is traced as "kv.keys <bucket>" (the span covers starting the
// listing; keys then arrive on the lister's channel).
func (kv *keyValue) ListKeys(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyLister, error) {
	return kvDo(ctx, kv.p, kv.keys, "", func(ctx context.Context) (jetstream.KeyLister, error) {
		return kv.KeyValue.ListKeys(ctx, opts...)
	})
}

// ListKeysFiltered is traced as "kv.keys <bucket>" (filters are not
// recorded).
func (kv *keyValue) ListKeysFiltered(ctx context.Context, filters ...string) (jetstream.KeyLister, error) {
	return kvDo(ctx, kv.p, kv.keys, "", func(ctx context.Context) (jetstream.KeyLister, error) {
		return kv.KeyValue.ListKeysFiltered(ctx, filters...)
	})
}

// History is traced as "kv.history <bucket>".
func (kv *keyValue) History(ctx context.Context, key string, opts ...jetstream.WatchOpt) ([]jetstream.KeyValueEntry, error) {
	return kvDo(ctx, kv.p, kv.history, key, func(ctx context.Context) ([]jetstream.KeyValueEntry, error) {
		return kv.KeyValue.History(ctx, key, opts...)
	})
}

// Status is traced as "kv.status <bucket>".
func (kv *keyValue) Status(ctx context.Context) (jetstream.KeyValueStatus, error) {
	return kvDo(ctx, kv.p, kv.status, "", kv.KeyValue.Status)
}

// Watch returns a watcher whose updates are "kv.watch <bucket>" spans.
func (kv *keyValue) Watch(ctx context.Context, keys string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	return kv.wrapWatcher(ctx)(kv.KeyValue.Watch(ctx, keys, opts...))
}

// WatchAll returns a watcher whose updates are "kv.watch <bucket>" spans.
func (kv *keyValue) WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	return kv.wrapWatcher(ctx)(kv.KeyValue.WatchAll(ctx, opts...))
}

// WatchFiltered returns a watcher whose updates are "kv.watch <bucket>"
// spans.
func (kv *keyValue) WatchFiltered(ctx context.Context, keys []string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	return kv.wrapWatcher(ctx)(kv.KeyValue.WatchFiltered(ctx, keys, opts...))
}

// wrapWatcher returns a function wrapping the result of a watch started
// with ctx.
func (kv *keyValue) wrapWatcher(ctx context.Context) func(jetstream.KeyWatcher, error) (jetstream.KeyWatcher, error) {
	return func(w jetstream.KeyWatcher, err error) (jetstream.KeyWatcher, error) {
		if err != nil || w == nil || !kv.watch.active() {
			return w, err
		}
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		in := w.Updates()
		kw := &keyWatcher{KeyWatcher: w, out: make(chan jetstream.KeyValueEntry, cap(in)), stop: make(chan struct{})}
		go kw.forward(in, done, kv)
		return kw, nil
	}
}

// keyWatcher forwards the updates of an upstream watcher, one process span
// per update.
type keyWatcher struct {
	jetstream.KeyWatcher
	out      chan jetstream.KeyValueEntry
	stop     chan struct{}
	stopOnce sync.Once
}

var _ jetstream.KeyWatcher = (*keyWatcher)(nil)

// Updates returns the channel of updates (a nil entry marks the end of the
// initial values, as in nats.go). It closes when the watcher stops.
func (w *keyWatcher) Updates() <-chan jetstream.KeyValueEntry { return w.out }

// Stop stops the upstream watcher and the forwarding goroutine.
func (w *keyWatcher) Stop() error {
	err := w.KeyWatcher.Stop()
	w.stopOnce.Do(func() { close(w.stop) })
	return err
}

// forward runs until the upstream channel closes (nats.go closes it once
// the watcher's subscription ends: Stop, the end of the watch context or
// connection close). After Stop or the end of done it no longer waits for
// the caller: what is still buffered upstream is passed on only while the
// caller's channel has room, so nats.go's delivery never blocks on us.
func (w *keyWatcher) forward(in <-chan jetstream.KeyValueEntry, done <-chan struct{}, kv *keyValue) {
	defer close(w.out)
	stopped := false
	for e := range in {
		stopped = w.pass(e, done, kv, stopped)
	}
}

// pass hands one update to the caller inside its process span, ended in a
// defer; it returns whether the watcher is stopped (after Stop or the end of
// done it no longer waits: e is passed on only if there is room).
func (w *keyWatcher) pass(e jetstream.KeyValueEntry, done <-chan struct{}, kv *keyValue, stopped bool) bool {
	if e != nil { // nil marks the end of the initial values: no span
		var c call
		kv.p.beginProcess(context.Background(), kv.watch, nil, &c)
		defer c.finish(nil)
		if kv.p.cfg.kvKeys {
			c.setAttributes(semconv.NATSKVKeyKey.String(e.Key()))
		}
	}
	if stopped {
		select {
		case w.out <- e:
		default:
		}
		return true
	}
	select {
	case w.out <- e:
		return false
	case <-w.stop:
		return true
	case <-done:
		return true
	}
}
