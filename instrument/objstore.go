package instrument

import (
	"context"
	"io"
	"reflect"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// NewObjectStore wraps os so that its calls are traced and measured through
// the one operation pipeline; it returns the upstream interface.
//
//   - Put, PutBytes, PutString and PutFile ("obj.put"), Get, GetBytes,
//     GetString and GetFile ("obj.get"), GetInfo ("obj.info"), UpdateMeta
//     ("obj.update_meta"), Delete ("obj.delete"), AddLink and AddBucketLink
//     ("obj.link"), Seal ("obj.seal"), List ("obj.list"), Watch
//     ("obj.watch") and Status ("obj.status") are CLIENT spans
//     "<op> <bucket>" with messaging.nats.obj.bucket and a
//     messaging.client.operation.duration data point each, guarded by the
//     gate ([WithGate]) with the breaker "obj <bucket>".
//   - Byte counts: a successful put records the size of the object stored,
//     Get, GetBytes and GetString the size of the object returned, as the
//     span attribute messaging.message.body.size (never a metric label).
//     GetFile records none (the data goes to a file nats.go writes).
//   - Get's span covers the call that returns the jetstream.ObjectResult
//     (the metadata lookup and the start of the chunk subscription); reading
//     the result afterwards is the caller's and is not timed. GetBytes,
//     GetString and GetFile read the whole object inside their span.
//   - Watch: the call is an "obj.watch <bucket>" span; each update it then
//     delivers is counted (messaging.client.consumed.messages with
//     messaging.operation.name=obj.watch and operation type process) but
//     gets no span: the metadata messages nats.go writes for a put carry no
//     trace context to join, and a span would only time the hand-off to
//     the caller's channel. A goroutine per watcher forwards the updates
//     (only when metrics are on); it ends when nats.go closes the upstream
//     channel (Stop, the end of the watch context, connection close), and
//     after Stop or the end of that context it never waits for a caller
//     that no longer reads.
//
// Object names are never recorded, nor object data or metadata. The bucket
// name is read from os (the nats.go implementation) when the wrapper is
// built; for another implementation of jetstream.ObjectStore it is unknown
// and spans are named "<op>" alone. Errors are returned unchanged:
// errors.Is(err, jetstream.ErrObjectNotFound) holds. AddBucketLink accepts a
// wrapped bucket (it is unwrapped for nats.go). Methods nats.go adds later
// call os directly, untraced.
//
// A nil os returns nil. Wrapping a wrapper does not instrument twice: with
// no options it returns it as is, with options it re-wraps the original.
// The wrapper is safe for concurrent use, like os.
func NewObjectStore(os jetstream.ObjectStore, opts ...Option) jetstream.ObjectStore {
	if os == nil {
		return nil
	}
	if w, ok := os.(*objectStore); ok { // never instrument twice
		if len(opts) == 0 {
			return w
		}
		os = w.ObjectStore
	}
	return newObjectStore(newPipeline(nil, opts), os)
}

// newObjectStore wraps os with p (shared with the wrapper that handed os
// out). A nil os is returned as is; a wrapper is not wrapped again.
func newObjectStore(p *pipeline, os jetstream.ObjectStore) jetstream.ObjectStore {
	if os == nil {
		return nil
	}
	if w, ok := os.(*objectStore); ok {
		return w
	}
	return &objectStore{ObjectStore: os, objSpecs: newObjSpecs(p, objBucket(os))}
}

// newLegacyObjectStore wraps a legacy nats.go ObjectStore (from a
// nats.JetStreamContext) with p: the same "obj.<op> <bucket>" spans and
// metrics as [NewObjectStore]. The parent of each span is the context of a
// nats.Context option passed to the call, if any. A nil os is returned as
// is; a wrapper is not wrapped again.
func newLegacyObjectStore(p *pipeline, os nats.ObjectStore) nats.ObjectStore {
	if os == nil {
		return nil
	}
	if w, ok := os.(*legacyObjectStore); ok {
		return w
	}
	return &legacyObjectStore{ObjectStore: os, objSpecs: newObjSpecs(p, objBucket(os))}
}

// objBucket returns the bucket name of a nats.go ObjectStore: from a
// Bucket() method if it has one, else from the name field of nats.go's
// implementation (new and legacy API: both name it "name"; a test guards
// it). "" when unknown.
func objBucket(os any) string {
	if b, ok := os.(interface{ Bucket() string }); ok {
		return b.Bucket()
	}
	v := reflect.ValueOf(os)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return ""
	}
	e := v.Elem()
	t := e.Type()
	if e.Kind() != reflect.Struct || t.Name() != "obs" ||
		(t.PkgPath() != "github.com/nats-io/nats.go/jetstream" && t.PkgPath() != "github.com/nats-io/nats.go") {
		return ""
	}
	if f := e.FieldByName("name"); f.IsValid() && f.Kind() == reflect.String {
		return f.String() // reading (not setting) an unexported string field
	}
	return ""
}

// objSpecs are the operations of one bucket, shared by the new and legacy
// ObjectStore wrappers.
type objSpecs struct {
	p                               *pipeline
	put, get, info, updateMeta, del *opSpec
	link, seal, list, watch, status *opSpec
	updateP                         *pipeline // metricsOnly view of p; nil when not metering
	update                          *opSpec   // each watch update: counted, no span
}

func newObjSpecs(p *pipeline, bucket string) *objSpecs {
	dest, attrs, spanAttrs := p.nameAttrs(nameObjBucket, bucket) // the cap of names.go
	mk := func(op string) *opSpec {
		return p.spec(specConfig{
			Op: op, Kind: trace.SpanKindClient, Dest: dest, FilterDest: bucket, NoDestAttrs: true,
			Attrs: attrs, SpanAttrs: spanAttrs, Gate: gateObj,
		})
	}
	s := &objSpecs{
		p:   p,
		put: mk(semconv.OpObjPut), get: mk(semconv.OpObjGet), info: mk(semconv.OpObjInfo),
		updateMeta: mk(semconv.OpObjUpdateMeta), del: mk(semconv.OpObjDelete), link: mk(semconv.OpObjLink),
		seal: mk(semconv.OpObjSeal), list: mk(semconv.OpObjList), watch: mk(semconv.OpObjWatch),
		status: mk(semconv.OpObjStatus),
	}
	if m := p.metricsOnly(); m != nil {
		s.updateP = m
		s.update = m.spec(specConfig{
			Op: semconv.OpObjWatch, OpType: semconv.OpTypeProcess, Kind: trace.SpanKindConsumer,
			Dest: dest, FilterDest: bucket, NoDestAttrs: true, Attrs: attrs, Hist: histNone,
		})
	}
	return s
}

// metricsOnly returns a view of p that records metrics but never starts a
// span (same options, instruments and Filter), or nil when p records no
// metrics.
func (p *pipeline) metricsOnly() *pipeline {
	if !p.metering {
		return nil
	}
	m := *p
	m.tracing, m.tracer = false, nil
	return &m
}

// objDo runs one ObjectStore call of s through the pipeline; size, when not
// nil, returns the byte count of a successful result (negative: none) for
// the span. As with do, a nil ctx goes to nats.go as given, untraced, so
// the call does what the raw one does with it.
func objDo[T any](ctx context.Context, p *pipeline, s *opSpec, size func(T) int64, fn func(context.Context) (T, error)) (T, error) {
	return doWith(ctx, p, s, attribute.KeyValue{}, size, fn)
}

// Byte counts of results, new and legacy API alike (-1: none).
func infoSize[I *jetstream.ObjectInfo | *nats.ObjectInfo](i I) int64 {
	switch i := any(i).(type) {
	case *jetstream.ObjectInfo:
		if i != nil {
			return int64(i.Size)
		}
	case *nats.ObjectInfo:
		if i != nil {
			return int64(i.Size)
		}
	}
	return -1
}

// resultSize is the size of the object of a jetstream.ObjectResult or a
// nats.ObjectResult.
func resultSize[R any](r R) int64 {
	switch r := any(r).(type) {
	case jetstream.ObjectResult:
		if info, err := r.Info(); err == nil {
			return infoSize(info)
		}
	case nats.ObjectResult:
		if info, err := r.Info(); err == nil {
			return infoSize(info)
		}
	}
	return -1
}

func bytesSize(b []byte) int64  { return int64(len(b)) }
func stringSize(s string) int64 { return int64(len(s)) }

// objRun is objDo for calls that return only an error.
func objRun(ctx context.Context, p *pipeline, s *opSpec, fn func(context.Context) error) error {
	_, err := objDo(ctx, p, s, nil, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// --- new API ---

// objectStore is the instrumented jetstream.ObjectStore.
type objectStore struct {
	jetstream.ObjectStore
	*objSpecs
}

var _ jetstream.ObjectStore = (*objectStore)(nil)

// Put is traced as "obj.put <bucket>" with the size stored.
func (o *objectStore) Put(ctx context.Context, obj jetstream.ObjectMeta, reader io.Reader) (*jetstream.ObjectInfo, error) {
	return objDo(ctx, o.p, o.put, infoSize, func(ctx context.Context) (*jetstream.ObjectInfo, error) {
		return o.ObjectStore.Put(ctx, obj, reader)
	})
}

// PutBytes is traced as "obj.put <bucket>" with the size stored.
func (o *objectStore) PutBytes(ctx context.Context, name string, data []byte) (*jetstream.ObjectInfo, error) {
	return objDo(ctx, o.p, o.put, infoSize, func(ctx context.Context) (*jetstream.ObjectInfo, error) {
		return o.ObjectStore.PutBytes(ctx, name, data)
	})
}

// PutString is traced as "obj.put <bucket>" with the size stored.
func (o *objectStore) PutString(ctx context.Context, name string, data string) (*jetstream.ObjectInfo, error) {
	return objDo(ctx, o.p, o.put, infoSize, func(ctx context.Context) (*jetstream.ObjectInfo, error) {
		return o.ObjectStore.PutString(ctx, name, data)
	})
}

// PutFile is traced as "obj.put <bucket>" with the size stored (the file
// name is not recorded).
func (o *objectStore) PutFile(ctx context.Context, file string) (*jetstream.ObjectInfo, error) {
	return objDo(ctx, o.p, o.put, infoSize, func(ctx context.Context) (*jetstream.ObjectInfo, error) {
		return o.ObjectStore.PutFile(ctx, file)
	})
}

// Get is traced as "obj.get <bucket>" with the object's size; the span ends
// when Get returns, reading the result is not timed.
func (o *objectStore) Get(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) (jetstream.ObjectResult, error) {
	return objDo(ctx, o.p, o.get, resultSize, func(ctx context.Context) (jetstream.ObjectResult, error) {
		return o.ObjectStore.Get(ctx, name, opts...)
	})
}

// GetBytes is traced as "obj.get <bucket>" with the size read.
func (o *objectStore) GetBytes(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) ([]byte, error) {
	return objDo(ctx, o.p, o.get, bytesSize, func(ctx context.Context) ([]byte, error) {
		return o.ObjectStore.GetBytes(ctx, name, opts...)
	})
}

// GetString is traced as "obj.get <bucket>" with the size read.
func (o *objectStore) GetString(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) (string, error) {
	return objDo(ctx, o.p, o.get, stringSize, func(ctx context.Context) (string, error) {
		return o.ObjectStore.GetString(ctx, name, opts...)
	})
}

// GetFile is traced as "obj.get <bucket>" (no size; the file name is not
// recorded).
func (o *objectStore) GetFile(ctx context.Context, name, file string, opts ...jetstream.GetObjectOpt) error {
	return objRun(ctx, o.p, o.get, func(ctx context.Context) error {
		return o.ObjectStore.GetFile(ctx, name, file, opts...)
	})
}

// GetInfo is traced as "obj.info <bucket>".
func (o *objectStore) GetInfo(ctx context.Context, name string, opts ...jetstream.GetObjectInfoOpt) (*jetstream.ObjectInfo, error) {
	return objDo(ctx, o.p, o.info, nil, func(ctx context.Context) (*jetstream.ObjectInfo, error) {
		return o.ObjectStore.GetInfo(ctx, name, opts...)
	})
}

// UpdateMeta is traced as "obj.update_meta <bucket>".
func (o *objectStore) UpdateMeta(ctx context.Context, name string, meta jetstream.ObjectMeta) error {
	return objRun(ctx, o.p, o.updateMeta, func(ctx context.Context) error {
		return o.ObjectStore.UpdateMeta(ctx, name, meta)
	})
}

// Delete is traced as "obj.delete <bucket>".
func (o *objectStore) Delete(ctx context.Context, name string) error {
	return objRun(ctx, o.p, o.del, func(ctx context.Context) error {
		return o.ObjectStore.Delete(ctx, name)
	})
}

// AddLink is traced as "obj.link <bucket>".
func (o *objectStore) AddLink(ctx context.Context, name string, obj *jetstream.ObjectInfo) (*jetstream.ObjectInfo, error) {
	return objDo(ctx, o.p, o.link, nil, func(ctx context.Context) (*jetstream.ObjectInfo, error) {
		return o.ObjectStore.AddLink(ctx, name, obj)
	})
}

// AddBucketLink is traced as "obj.link <bucket>". A wrapped bucket is
// unwrapped: nats.go only links to its own ObjectStore type.
func (o *objectStore) AddBucketLink(ctx context.Context, name string, bucket jetstream.ObjectStore) (*jetstream.ObjectInfo, error) {
	if w, ok := bucket.(*objectStore); ok && w != nil {
		bucket = w.ObjectStore
	}
	return objDo(ctx, o.p, o.link, nil, func(ctx context.Context) (*jetstream.ObjectInfo, error) {
		return o.ObjectStore.AddBucketLink(ctx, name, bucket)
	})
}

// Seal is traced as "obj.seal <bucket>".
func (o *objectStore) Seal(ctx context.Context) error {
	return objRun(ctx, o.p, o.seal, o.ObjectStore.Seal)
}

// List is traced as "obj.list <bucket>".
func (o *objectStore) List(ctx context.Context, opts ...jetstream.ListObjectsOpt) ([]*jetstream.ObjectInfo, error) {
	return objDo(ctx, o.p, o.list, nil, func(ctx context.Context) ([]*jetstream.ObjectInfo, error) {
		return o.ObjectStore.List(ctx, opts...)
	})
}

// Status is traced as "obj.status <bucket>".
func (o *objectStore) Status(ctx context.Context) (jetstream.ObjectStoreStatus, error) {
	return objDo(ctx, o.p, o.status, nil, o.ObjectStore.Status)
}

// Watch is traced as "obj.watch <bucket>"; the updates of the watcher it
// returns are counted (no span per update).
func (o *objectStore) Watch(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.ObjectWatcher, error) {
	w, err := objDo(ctx, o.p, o.watch, nil, func(ctx context.Context) (jetstream.ObjectWatcher, error) {
		return o.ObjectStore.Watch(ctx, opts...)
	})
	if err != nil || w == nil || !o.update.active() {
		return w, err
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	return &objWatcher{ObjectWatcher: w, fw: forwardUpdates(o.objSpecs, w.Updates(), done)}, nil
}

// objWatcher and legacyObjWatcher forward the updates of an upstream
// watcher, counting them. They are two types because each embeds its
// upstream interface (so that methods nats.go adds later still work), which
// a generic type cannot; updateForwarder does the work of both.
type objWatcher struct {
	jetstream.ObjectWatcher
	fw *updateForwarder[jetstream.ObjectInfo]
}

var _ jetstream.ObjectWatcher = (*objWatcher)(nil)

// Updates returns the channel of updates (a nil entry marks the end of the
// initial values, as in nats.go). It closes when the watcher stops.
func (w *objWatcher) Updates() <-chan *jetstream.ObjectInfo { return w.fw.out }

// Stop stops the upstream watcher and the forwarding goroutine.
func (w *objWatcher) Stop() error { return w.fw.haltAfter(w.ObjectWatcher.Stop()) }

// --- legacy API ---

// legacyObjectStore is the instrumented legacy nats.ObjectStore.
type legacyObjectStore struct {
	nats.ObjectStore
	*objSpecs
}

var _ nats.ObjectStore = (*legacyObjectStore)(nil)

// legacyDo runs a legacy call (which takes its context from its options,
// not from the span's) through the pipeline. ctx is the span's parent, from
// the call's nats.Context option; nil (no such option) parents it on
// context.Background, since fn does not get it.
func legacyDo[T any](ctx context.Context, o *legacyObjectStore, s *opSpec, size func(T) int64, fn func() (T, error)) (T, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	return objDo(ctx, o.p, s, size, func(context.Context) (T, error) { return fn() })
}

func legacyRun(ctx context.Context, o *legacyObjectStore, s *opSpec, fn func() error) error {
	_, err := legacyDo(ctx, o, s, nil, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// Put is traced as "obj.put <bucket>" with the size stored.
func (o *legacyObjectStore) Put(obj *nats.ObjectMeta, reader io.Reader, opts ...nats.ObjectOpt) (*nats.ObjectInfo, error) {
	return legacyDo(optContext(opts), o, o.put, infoSize, func() (*nats.ObjectInfo, error) {
		return o.ObjectStore.Put(obj, reader, opts...)
	})
}

// PutBytes is traced as "obj.put <bucket>" with the size stored.
func (o *legacyObjectStore) PutBytes(name string, data []byte, opts ...nats.ObjectOpt) (*nats.ObjectInfo, error) {
	return legacyDo(optContext(opts), o, o.put, infoSize, func() (*nats.ObjectInfo, error) {
		return o.ObjectStore.PutBytes(name, data, opts...)
	})
}

// PutString is traced as "obj.put <bucket>" with the size stored.
func (o *legacyObjectStore) PutString(name string, data string, opts ...nats.ObjectOpt) (*nats.ObjectInfo, error) {
	return legacyDo(optContext(opts), o, o.put, infoSize, func() (*nats.ObjectInfo, error) {
		return o.ObjectStore.PutString(name, data, opts...)
	})
}

// PutFile is traced as "obj.put <bucket>" with the size stored.
func (o *legacyObjectStore) PutFile(file string, opts ...nats.ObjectOpt) (*nats.ObjectInfo, error) {
	return legacyDo(optContext(opts), o, o.put, infoSize, func() (*nats.ObjectInfo, error) {
		return o.ObjectStore.PutFile(file, opts...)
	})
}

// Get is traced as "obj.get <bucket>" with the object's size; the span ends
// when Get returns, reading the result is not timed.
func (o *legacyObjectStore) Get(name string, opts ...nats.GetObjectOpt) (nats.ObjectResult, error) {
	return legacyDo(optContext(opts), o, o.get, resultSize, func() (nats.ObjectResult, error) {
		return o.ObjectStore.Get(name, opts...)
	})
}

// GetBytes is traced as "obj.get <bucket>" with the size read.
func (o *legacyObjectStore) GetBytes(name string, opts ...nats.GetObjectOpt) ([]byte, error) {
	return legacyDo(optContext(opts), o, o.get, bytesSize, func() ([]byte, error) {
		return o.ObjectStore.GetBytes(name, opts...)
	})
}

// GetString is traced as "obj.get <bucket>" with the size read.
func (o *legacyObjectStore) GetString(name string, opts ...nats.GetObjectOpt) (string, error) {
	return legacyDo(optContext(opts), o, o.get, stringSize, func() (string, error) {
		return o.ObjectStore.GetString(name, opts...)
	})
}

// GetFile is traced as "obj.get <bucket>" (no size).
func (o *legacyObjectStore) GetFile(name, file string, opts ...nats.GetObjectOpt) error {
	return legacyRun(optContext(opts), o, o.get, func() error {
		return o.ObjectStore.GetFile(name, file, opts...)
	})
}

// GetInfo is traced as "obj.info <bucket>".
func (o *legacyObjectStore) GetInfo(name string, opts ...nats.GetObjectInfoOpt) (*nats.ObjectInfo, error) {
	return legacyDo(optContext(opts), o, o.info, nil, func() (*nats.ObjectInfo, error) {
		return o.ObjectStore.GetInfo(name, opts...)
	})
}

// UpdateMeta is traced as "obj.update_meta <bucket>".
func (o *legacyObjectStore) UpdateMeta(name string, meta *nats.ObjectMeta) error {
	return legacyRun(context.Background(), o, o.updateMeta, func() error {
		return o.ObjectStore.UpdateMeta(name, meta)
	})
}

// Delete is traced as "obj.delete <bucket>".
func (o *legacyObjectStore) Delete(name string) error {
	return legacyRun(context.Background(), o, o.del, func() error {
		return o.ObjectStore.Delete(name)
	})
}

// AddLink is traced as "obj.link <bucket>".
func (o *legacyObjectStore) AddLink(name string, obj *nats.ObjectInfo) (*nats.ObjectInfo, error) {
	return legacyDo(context.Background(), o, o.link, nil, func() (*nats.ObjectInfo, error) {
		return o.ObjectStore.AddLink(name, obj)
	})
}

// AddBucketLink is traced as "obj.link <bucket>". A wrapped bucket is
// unwrapped: nats.go only links to its own ObjectStore type.
func (o *legacyObjectStore) AddBucketLink(name string, bucket nats.ObjectStore) (*nats.ObjectInfo, error) {
	if w, ok := bucket.(*legacyObjectStore); ok && w != nil {
		bucket = w.ObjectStore
	}
	return legacyDo(context.Background(), o, o.link, nil, func() (*nats.ObjectInfo, error) {
		return o.ObjectStore.AddBucketLink(name, bucket)
	})
}

// Seal is traced as "obj.seal <bucket>".
func (o *legacyObjectStore) Seal() error {
	return legacyRun(context.Background(), o, o.seal, o.ObjectStore.Seal)
}

// List is traced as "obj.list <bucket>".
func (o *legacyObjectStore) List(opts ...nats.ListObjectsOpt) ([]*nats.ObjectInfo, error) {
	return legacyDo(optContext(opts), o, o.list, nil, func() ([]*nats.ObjectInfo, error) {
		return o.ObjectStore.List(opts...)
	})
}

// Status is traced as "obj.status <bucket>".
func (o *legacyObjectStore) Status() (nats.ObjectStoreStatus, error) {
	return legacyDo(context.Background(), o, o.status, nil, o.ObjectStore.Status)
}

// Watch is traced as "obj.watch <bucket>"; the updates of the watcher it
// returns are counted (no span per update).
func (o *legacyObjectStore) Watch(opts ...nats.WatchOpt) (nats.ObjectWatcher, error) {
	w, err := legacyDo(optContext(opts), o, o.watch, nil, func() (nats.ObjectWatcher, error) {
		return o.ObjectStore.Watch(opts...)
	})
	if err != nil || w == nil || !o.update.active() {
		return w, err
	}
	// nats.go's legacy watcher ignores contexts: it ends with Stop or the
	// connection.
	return &legacyObjWatcher{ObjectWatcher: w, fw: forwardUpdates(o.objSpecs, w.Updates(), nil)}, nil
}

// legacyObjWatcher is objWatcher for an upstream legacy watcher.
type legacyObjWatcher struct {
	nats.ObjectWatcher
	fw *updateForwarder[nats.ObjectInfo]
}

var _ nats.ObjectWatcher = (*legacyObjWatcher)(nil)

// Updates returns the channel of updates (a nil entry marks the end of the
// initial values, as in nats.go). It closes when the watcher stops.
func (w *legacyObjWatcher) Updates() <-chan *nats.ObjectInfo { return w.fw.out }

// Stop stops the upstream watcher and the forwarding goroutine.
func (w *legacyObjWatcher) Stop() error { return w.fw.haltAfter(w.ObjectWatcher.Stop()) }

// --- watch update forwarding ---

// updateForwarder passes the updates of an upstream ObjectStore watcher on
// to the caller's channel, counting each.
type updateForwarder[T any] struct {
	out      chan *T
	stop     chan struct{}
	stopOnce sync.Once
}

// forwardUpdates starts forwarding the updates of in, the channel of an
// upstream watcher, to a new forwarder's out (of in's capacity), counting
// them with the specs of s; done (nil: never) is the end of the watch's
// context.
func forwardUpdates[T any](s *objSpecs, in <-chan *T, done <-chan struct{}) *updateForwarder[T] {
	f := &updateForwarder[T]{out: make(chan *T, cap(in)), stop: make(chan struct{})}
	go f.run(in, done, s)
	return f
}

// haltAfter makes the forwarder stop waiting for the caller once the
// upstream watcher's Stop returned err, and returns err.
func (f *updateForwarder[T]) haltAfter(err error) error {
	f.stopOnce.Do(func() { close(f.stop) })
	return err
}

// run forwards until the upstream channel closes (nats.go closes it once the
// watcher's subscription ends). After halt or the end of done it no longer
// waits for the caller: what is still buffered upstream is passed on only
// while the caller's channel has room, so nats.go's delivery never blocks
// on us.
func (f *updateForwarder[T]) run(in <-chan *T, done <-chan struct{}, s *objSpecs) {
	defer close(f.out)
	stopped := false
	for e := range in {
		if e != nil { // nil marks the end of the initial values: not an update
			var c call
			s.updateP.beginProcess(context.Background(), s.update, nil, &c)
			c.end(nil)
		}
		if stopped {
			select {
			case f.out <- e:
			default:
			}
			continue
		}
		select {
		case f.out <- e:
			continue
		case <-f.stop:
		case <-done:
		}
		stopped = true
		select { // the update that was waiting, if there is room
		case f.out <- e:
		default:
		}
	}
}
