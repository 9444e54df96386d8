package instrument

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
)

// Object names and contents that must never show up in telemetry.
const (
	objName   = "invoice-Qm7xPz2Lk9.pdf"
	objName2  = "photo-Wv3nR8tY1b.jpg"
	objSecret = "object-body-secret-Hk4sJd8Fq2"
	srcFile   = "src-Zt8kQw3nVb5x.bin"
	dstFile   = "dst-Lp6yRc2mWq9j.bin"
)

func objBucketAttr(b string) attribute.KeyValue { return semconv.NATSObjBucketKey.String(b) }

func bodySize(s sdktrace.ReadOnlySpan) (int64, bool) {
	v, ok := attrs(s.Attributes())[semconv.MessagingMessageBodySizeKey]
	return v.AsInt64(), ok
}

// objStore creates bucket through the instrumented JetStream (so the handle
// returned is the wrapper) and returns it.
func (e *jsEnv) objStore(bucket string) jetstream.ObjectStore {
	e.t.Helper()
	obs, err := e.js.CreateObjectStore(context.Background(), jetstream.ObjectStoreConfig{Bucket: bucket})
	require.NoError(e.t, err)
	_, ok := obs.(*objectStore)
	require.True(e.t, ok, "CreateObjectStore returns the wrapper, got %T", obs)
	return obs
}

// Every data operation of the new API is a CLIENT span "obj.<op> <bucket>"
// with the bucket, byte counts on put and get, a duration data point, and
// never an object name.
func TestObjectStoreOps(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	obs := e.objStore("files")
	other := e.objStore("other")
	body := strings.Repeat(objSecret, 10) // 290 bytes
	dir := t.TempDir()
	src := filepath.Join(dir, srcFile)
	require.NoError(t, os.WriteFile(src, []byte(body[:100]), 0o600))

	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: objName}, strings.NewReader(body))
	require.NoError(t, err)
	assert.EqualValues(t, len(body), info.Size)
	_, err = obs.PutBytes(ctx, objName2, []byte(body[:10]))
	require.NoError(t, err)
	_, err = obs.PutString(ctx, "c", body[:20])
	require.NoError(t, err)
	_, err = obs.PutFile(ctx, src)
	require.NoError(t, err)

	res, err := obs.Get(ctx, objName)
	require.NoError(t, err)
	got, err := io.ReadAll(res)
	require.NoError(t, err)
	require.NoError(t, res.Close())
	assert.Equal(t, body, string(got))
	b, err := obs.GetBytes(ctx, objName2)
	require.NoError(t, err)
	assert.Equal(t, body[:10], string(b))
	s, err := obs.GetString(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, body[:20], s)
	dst := filepath.Join(dir, dstFile)
	require.NoError(t, obs.GetFile(ctx, objName, dst))
	onDisk, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, body, string(onDisk))

	_, err = obs.GetInfo(ctx, objName)
	require.NoError(t, err)
	require.NoError(t, obs.UpdateMeta(ctx, "c", jetstream.ObjectMeta{Name: "c", Description: "d"}))
	_, err = obs.AddLink(ctx, "link", info)
	require.NoError(t, err)
	_, err = obs.AddBucketLink(ctx, "blink", other)
	require.NoError(t, err, "a wrapped bucket is unwrapped for nats.go")
	list, err := obs.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 6)
	st, err := obs.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "files", st.Bucket())
	require.NoError(t, obs.Delete(ctx, objName2))
	require.NoError(t, obs.Seal(ctx))

	rm := e.collect(t)
	for _, tc := range []struct {
		op    string
		n     int
		sizes []int64 // byte counts of the spans, in order; nil: none recorded
	}{
		{semconv.OpObjPut, 4, []int64{290, 10, 20, 100}},
		{semconv.OpObjGet, 4, []int64{290, 10, 20, -1}},
		{semconv.OpObjInfo, 1, nil},
		{semconv.OpObjUpdateMeta, 1, nil},
		{semconv.OpObjLink, 2, nil},
		{semconv.OpObjList, 1, nil},
		{semconv.OpObjStatus, 1, nil},
		{semconv.OpObjDelete, 1, nil},
		{semconv.OpObjSeal, 1, nil},
	} {
		t.Run(tc.op, func(t *testing.T) {
			spans := e.named(tc.op + " files")
			require.Len(t, spans, tc.n)
			for i, s := range spans {
				assertSpan(t, s, trace.SpanKindClient, tc.op, "", objBucketAttr("files"))
				assertOK(t, s)
				assertNoAttr(t, s.Attributes(), semconv.MessagingDestinationNameKey)
				assertNoAttr(t, s.Attributes(), semconv.MessagingOperationTypeKey)
				n, has := bodySize(s)
				if tc.sizes == nil || tc.sizes[i] < 0 {
					assert.False(t, has, "no byte count on span %d", i)
				} else if assert.True(t, has, "byte count on span %d", i) {
					assert.Equal(t, tc.sizes[i], n, "byte count of span %d", i)
				}
			}
			assert.EqualValues(t, tc.n, histCount(rm, semconv.MetricOperationDuration, opAttr(tc.op), objBucketAttr("files")))
		})
	}
	// Byte counts stay on spans, never on metrics.
	for _, p := range e.histPoints(t, semconv.MetricOperationDuration) {
		_, has := p.Attributes.Value(semconv.MessagingMessageBodySizeKey)
		assert.False(t, has, "byte count on a metric")
	}
	assertNoSecrets(t, e.telemetry, objName, objName2, objSecret, srcFile, dstFile, dir)
}

// The spans of an ObjectStore call are children of the caller's span.
func TestObjectStoreParent(t *testing.T) {
	e := newJSEnv(t)
	obs := e.objStore("files")
	ctx, parent := e.tp.Tracer("test").Start(context.Background(), "parent")
	_, err := obs.PutString(ctx, "a", "x")
	require.NoError(t, err)
	parent.End()
	s := e.one("obj.put files")
	assert.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
}

// Errors come back exactly as nats.go returned them (differential: raw and
// instrumented side by side).
func TestObjectStoreErrorsUnchanged(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	wrapped := e.objStore("files")
	raw, err := e.raw.ObjectStore(ctx, "files")
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		call func(jetstream.ObjectStore) error
	}{
		{"Get", func(o jetstream.ObjectStore) error { _, err := o.Get(ctx, "missing"); return err }},
		{"GetBytes", func(o jetstream.ObjectStore) error { _, err := o.GetBytes(ctx, "missing"); return err }},
		{"GetString", func(o jetstream.ObjectStore) error { _, err := o.GetString(ctx, "missing"); return err }},
		{"GetInfo", func(o jetstream.ObjectStore) error { _, err := o.GetInfo(ctx, "missing"); return err }},
		{"Delete", func(o jetstream.ObjectStore) error { return o.Delete(ctx, "missing") }},
		{"GetInfoNoName", func(o jetstream.ObjectStore) error { _, err := o.GetInfo(ctx, ""); return err }},
		{"List", func(o jetstream.ObjectStore) error { _, err := o.List(ctx); return err }},
		{"AddBucketLinkNil", func(o jetstream.ObjectStore) error { _, err := o.AddBucketLink(ctx, "l", nil); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rawErr := tc.call(raw)
			err := tc.call(wrapped)
			require.Error(t, rawErr)
			assert.Equal(t, rawErr, err, "the very same error")
		})
	}
	_, err = wrapped.Get(ctx, "missing")
	assert.True(t, errors.Is(err, jetstream.ErrObjectNotFound))
	res, err := wrapped.Get(ctx, "missing")
	assert.Nil(t, res)
	assert.Error(t, err)

	// A missing object is an expected miss for the default classifier; an
	// invalid name is a failure.
	for _, s := range e.named("obj.get files") {
		assertOK(t, s)
	}
	for _, s := range e.named("obj.info files") {
		if _, has := bodySize(s); has {
			t.Errorf("obj.info records no size")
		}
	}
	noName := e.named("obj.info files")
	require.Len(t, noName, 2)
	assertOK(t, noName[0])
	assertFailed(t, noName[1], "")
}

// A nil ctx reaches nats.go as the caller gave it: each call does what the
// raw call does with it (same panic value or same result), untraced.
func TestObjectStoreNilContextAsRaw(t *testing.T) {
	e := newJSEnv(t)
	wrapped := e.objStore("nilctx")
	raw, err := e.raw.ObjectStore(context.Background(), "nilctx")
	require.NoError(t, err)
	_, err = raw.PutBytes(context.Background(), objName, []byte(objSecret))
	require.NoError(t, err)
	var nilCtx context.Context
	type outcome struct {
		panicked any
		err      error
	}
	run := func(fn func() error) (o outcome) {
		defer func() { o.panicked = recover() }()
		o.err = fn()
		return o
	}
	for _, tc := range []struct {
		name string
		call func(jetstream.ObjectStore) error
	}{
		{"GetBytes", func(o jetstream.ObjectStore) error { _, err := o.GetBytes(nilCtx, objName); return err }},
		{"GetInfo", func(o jetstream.ObjectStore) error { _, err := o.GetInfo(nilCtx, objName); return err }},
		{"PutBytes", func(o jetstream.ObjectStore) error { _, err := o.PutBytes(nilCtx, objName2, []byte("x")); return err }},
		{"Delete", func(o jetstream.ObjectStore) error { return o.Delete(nilCtx, "missing") }},
		{"Status", func(o jetstream.ObjectStore) error { _, err := o.Status(nilCtx); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := run(func() error { return tc.call(raw) })
			got := run(func() error { return tc.call(wrapped) })
			assert.Equal(t, want.err, got.err)
			if want.panicked != nil {
				require.NotNil(t, got.panicked, "raw panicked with %v", want.panicked)
				assert.Equal(t, fmt.Sprint(want.panicked), fmt.Sprint(got.panicked))
			} else {
				assert.Nil(t, got.panicked)
			}
		})
	}
	assert.Empty(t, e.named("obj.get nilctx"), "a nil ctx is not traced")
}

// Watch is one CLIENT span; each update is counted, without a span.
func TestObjectStoreWatch(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	obs := e.objStore("files")
	_, err := obs.PutString(ctx, "a", "1")
	require.NoError(t, err)

	w, err := obs.Watch(ctx)
	require.NoError(t, err)
	_, ok := w.(*objWatcher)
	require.True(t, ok, "the watcher is wrapped")
	next := func() *jetstream.ObjectInfo {
		select {
		case u := <-w.Updates():
			return u
		case <-time.After(5 * time.Second):
			t.Fatal("no update")
			return nil
		}
	}
	first := next()
	require.NotNil(t, first)
	assert.Equal(t, "a", first.Name)
	assert.Nil(t, next(), "end of the initial values")
	_, err = obs.PutString(ctx, "b", "2")
	require.NoError(t, err)
	second := next()
	require.NotNil(t, second)
	assert.Equal(t, "b", second.Name)

	require.NoError(t, w.Stop())
	require.Eventually(t, func() bool {
		select {
		case _, open := <-w.Updates():
			return !open
		default:
			return false
		}
	}, 5*time.Second, 5*time.Millisecond, "the channel closes after Stop")

	require.Len(t, e.named("obj.watch files"), 1, "one span for the Watch call, none per update")
	watch := e.one("obj.watch files")
	assertSpan(t, watch, trace.SpanKindClient, semconv.OpObjWatch, "", objBucketAttr("files"))
	rm := e.collect(t)
	assert.EqualValues(t, 2, sumValue(rm, semconv.MetricConsumedMessages,
		opAttr(semconv.OpObjWatch), semconv.MessagingOperationTypeKey.String(semconv.OpTypeProcess), objBucketAttr("files")))
	assert.EqualValues(t, 0, histCount(rm, semconv.MetricProcessDuration, opAttr(semconv.OpObjWatch)),
		"a hand-off is not a processing time")
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpObjWatch)))
}

// A watcher whose context ends stops waiting for a caller that does not
// read; its goroutine ends (goleak checks the package).
func TestObjectStoreWatchContextEnds(t *testing.T) {
	e := newJSEnv(t)
	obs := e.objStore("files")
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 3 {
		_, err := obs.PutString(context.Background(), string(rune('a'+i)), "x")
		require.NoError(t, err)
	}
	w, err := obs.Watch(ctx)
	require.NoError(t, err)
	cancel() // nobody reads
	require.Eventually(t, func() bool {
		n := 0
		for {
			select {
			case _, open := <-w.Updates():
				if !open {
					return true
				}
				n++
			default:
				return false
			}
		}
	}, 5*time.Second, 5*time.Millisecond)
}

// Without metrics there is nothing to count: the upstream watcher is
// returned as is, with no goroutine.
func TestObjectStoreWatchNoMetrics(t *testing.T) {
	tel := newTelemetry(t)
	srv := runServer(t)
	js, err := jetstream.New(connect(t, srv))
	require.NoError(t, err)
	ctx := context.Background()
	raw, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	obs := NewObjectStore(raw, WithTracerProvider(tel.tp), WithMeterProvider(metricnoop.NewMeterProvider()))
	w, err := obs.Watch(ctx)
	require.NoError(t, err)
	_, wrapped := w.(*objWatcher)
	assert.False(t, wrapped)
	require.NoError(t, w.Stop())
	assert.Len(t, tel.spans(), 1, "the Watch call is still traced")
}

// ObjectStore calls go through the gate's "obj <bucket>" breaker; one
// bucket's breaker never touches another bucket.
func TestObjectStoreGate(t *testing.T) {
	e := newJSEnv(t)
	g, shown := strictGate(t, e.telemetry)
	js := NewJetStream(e.raw, e.opts(WithGate(g))...)
	ctx := context.Background()
	files, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	other, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "other"})
	require.NoError(t, err)

	_, err = files.GetInfo(ctx, "")
	require.ErrorIs(t, err, jetstream.ErrNameRequired)
	assert.ErrorIs(t, <-shown, jetstream.ErrNameRequired)
	_, err = files.PutString(ctx, "a", "x")
	require.ErrorIs(t, err, circuit.ErrOpen)
	var oe *circuit.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "obj files", oe.Destination)
	_, err = other.PutString(ctx, "a", "x")
	require.NoError(t, err, "another bucket is not touched")
	assertFailed(t, e.one("obj.put files"), semconv.ErrorTypeCircuitOpen)
}

// A Filter sees the operation and the bucket; a rejected call goes
// straight to nats.go.
func TestObjectStoreFilter(t *testing.T) {
	e := newJSEnv(t)
	var seen []string
	js := NewJetStream(e.raw, e.opts(WithFilter(func(op, dest string) bool {
		if strings.HasPrefix(op, "obj.") {
			seen = append(seen, op+" "+dest)
		}
		return op != semconv.OpObjPut
	}))...)
	ctx := context.Background()
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	_, err = obs.PutString(ctx, "a", "x")
	require.NoError(t, err)
	_, err = obs.GetString(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, e.named("obj.put files"))
	assert.Len(t, e.named("obj.get files"), 1)
	assert.Contains(t, seen, "obj.put files")
}

func TestNewObjectStore(t *testing.T) {
	assert.Nil(t, NewObjectStore(nil))
	e := newJSEnv(t)
	ctx := context.Background()
	raw, err := e.raw.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	w := NewObjectStore(raw, e.o...)
	assert.Same(t, w, NewObjectStore(w), "never instrument twice")
	w2 := NewObjectStore(w, e.o...)
	assert.NotSame(t, w, w2)
	assert.Same(t, raw, w2.(*objectStore).ObjectStore, "re-wraps the original")
	_, err = w2.PutString(ctx, "a", "x")
	require.NoError(t, err)
	assert.Len(t, e.named("obj.put files"), 1, "one span, not two")
}

// The bucket name is read from nats.go's implementations (new and legacy);
// this guards the field the wrapper reads.
func TestObjectStoreBucketName(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	raw, err := e.raw.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	assert.Equal(t, "files", objBucket(raw))
	legacy, err := e.nc.JetStream()
	require.NoError(t, err)
	lraw, err := legacy.ObjectStore("files")
	require.NoError(t, err)
	assert.Equal(t, "files", objBucket(lraw))
	assert.Empty(t, objBucket(struct{ jetstream.ObjectStore }{raw}), "another implementation: unknown")

	// An unknown bucket still works: spans are named by the operation.
	o := NewObjectStore(struct{ jetstream.ObjectStore }{raw}, e.o...)
	_, err = o.PutString(ctx, "a", "x")
	require.NoError(t, err)
	assertNoAttr(t, e.one("obj.put").Attributes(), semconv.NATSObjBucketKey)
}

// The legacy nats.ObjectStore data wrapper: same spans and metrics; the parent
// is the context of a nats.Context option; errors unchanged.
func TestLegacyObjectStoreData(t *testing.T) {
	e := newJSEnv(t)
	js, err := e.nc.JetStream()
	require.NoError(t, err)
	rawObs, err := js.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: "legacy"})
	require.NoError(t, err)
	rawOther, err := js.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: "lother"})
	require.NoError(t, err)
	p := newPipeline(e.nc, e.o)
	obs := newLegacyObjectStore(p, rawObs)
	other := newLegacyObjectStore(p, rawOther)
	assert.Same(t, obs, newLegacyObjectStore(p, obs), "never instrument twice")
	assert.Nil(t, newLegacyObjectStore(p, nil))
	body := strings.Repeat(objSecret, 4)
	dir := t.TempDir()
	src := filepath.Join(dir, srcFile)
	require.NoError(t, os.WriteFile(src, []byte(body[:7]), 0o600))

	ctx, parent := e.tp.Tracer("test").Start(context.Background(), "parent")
	// Two nats.Context options: nats.go applies both, the last wins, and
	// so does the span's parent.
	info, err := obs.Put(&nats.ObjectMeta{Name: objName}, bytes.NewReader([]byte(body)),
		nats.Context(context.Background()), nats.Context(ctx))
	require.NoError(t, err)
	parent.End()
	_, err = obs.PutBytes(objName2, []byte(body[:5]))
	require.NoError(t, err)
	_, err = obs.PutString("c", body[:3])
	require.NoError(t, err)
	_, err = obs.PutFile(src)
	require.NoError(t, err)
	res, err := obs.Get(objName)
	require.NoError(t, err)
	got, err := io.ReadAll(res)
	require.NoError(t, err)
	require.NoError(t, res.Close())
	assert.Equal(t, body, string(got))
	b, err := obs.GetBytes(objName2)
	require.NoError(t, err)
	assert.Equal(t, body[:5], string(b))
	s, err := obs.GetString("c")
	require.NoError(t, err)
	assert.Equal(t, body[:3], s)
	require.NoError(t, obs.GetFile(objName, filepath.Join(dir, dstFile)))
	_, err = obs.GetInfo(objName)
	require.NoError(t, err)
	require.NoError(t, obs.UpdateMeta("c", &nats.ObjectMeta{Name: "c", Description: "d"}))
	_, err = obs.AddLink("link", info)
	require.NoError(t, err)
	_, err = obs.AddBucketLink("blink", other)
	require.NoError(t, err, "a wrapped bucket is unwrapped for nats.go")
	list, err := obs.List()
	require.NoError(t, err)
	assert.Len(t, list, 6)
	st, err := obs.Status()
	require.NoError(t, err)
	assert.Equal(t, "legacy", st.Bucket())
	w, err := obs.Watch()
	require.NoError(t, err)
	n := 0
	for u := range w.Updates() {
		if u == nil {
			break
		}
		n++
	}
	assert.Equal(t, 6, n)
	require.NoError(t, w.Stop())
	for range w.Updates() {
	}
	require.NoError(t, obs.Delete(objName2))
	require.NoError(t, obs.Seal())

	// Differential: errors unchanged.
	_, rawErr := rawObs.Get("missing")
	_, err = obs.Get("missing")
	require.Error(t, err)
	assert.Equal(t, rawErr, err)
	assert.ErrorIs(t, err, nats.ErrObjectNotFound)

	put := e.named("obj.put legacy")
	require.Len(t, put, 4)
	assert.Equal(t, parent.SpanContext().SpanID(), put[0].Parent().SpanID(), "parent from the last nats.Context")
	assert.False(t, put[1].Parent().IsValid(), "no context option: a root span")
	for i, want := range []int64{int64(len(body)), 5, 3, 7} {
		assertSpan(t, put[i], trace.SpanKindClient, semconv.OpObjPut, "", objBucketAttr("legacy"))
		got, ok := bodySize(put[i])
		assert.True(t, ok)
		assert.Equal(t, want, got)
	}
	gets := e.named("obj.get legacy")
	require.Len(t, gets, 5)
	for i, want := range []int64{int64(len(body)), 5, 3} {
		got, ok := bodySize(gets[i])
		assert.True(t, ok)
		assert.Equal(t, want, got)
	}
	for op, want := range map[string]int{
		semconv.OpObjInfo: 1, semconv.OpObjUpdateMeta: 1, semconv.OpObjLink: 2, semconv.OpObjList: 1,
		semconv.OpObjStatus: 1, semconv.OpObjWatch: 1, semconv.OpObjDelete: 1, semconv.OpObjSeal: 1,
	} {
		assert.Len(t, e.named(op+" legacy"), want, op)
	}
	rm := e.collect(t)
	assert.EqualValues(t, 6, sumValue(rm, semconv.MetricConsumedMessages, opAttr(semconv.OpObjWatch), objBucketAttr("legacy")))
	assert.EqualValues(t, 4, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpObjPut), objBucketAttr("legacy")))
	assertNoSecrets(t, e.telemetry, objName, objName2, objSecret, dir)
}
