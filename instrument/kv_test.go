package instrument

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// kv creates bucket (raw) and returns it wrapped with the env's options plus
// extra.
func (e *jsEnv) kv(bucket string, extra ...Option) (raw, wrapped jetstream.KeyValue) {
	e.t.Helper()
	raw, err := e.raw.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: bucket, History: 5})
	require.NoError(e.t, err)
	return raw, NewKeyValue(raw, append(append([]Option{}, e.o...), extra...)...)
}

func bucketAttr(b string) attribute.KeyValue { return semconv.NATSKVBucketKey.String(b) }

func TestKeyValueOps(t *testing.T) {
	e := newJSEnv(t)
	_, kv := e.kv("cfg")
	ctx := context.Background()

	rev, err := kv.Put(ctx, "a", []byte("v1"))
	require.NoError(t, err)
	_, err = kv.PutString(ctx, "b", "v2")
	require.NoError(t, err)
	_, err = kv.Create(ctx, "c", []byte("v3"))
	require.NoError(t, err)
	rev, err = kv.Update(ctx, "a", []byte("v4"), rev)
	require.NoError(t, err)
	ent, err := kv.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "v4", string(ent.Value()))
	_, err = kv.GetRevision(ctx, "a", rev)
	require.NoError(t, err)
	keys, err := kv.Keys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, keys)
	kl, err := kv.ListKeys(ctx)
	require.NoError(t, err)
	n := 0
	for range kl.Keys() {
		n++
	}
	assert.Equal(t, 3, n)
	klf, err := kv.ListKeysFiltered(ctx, "a")
	require.NoError(t, err)
	for range klf.Keys() {
	}
	hist, err := kv.History(ctx, "a")
	require.NoError(t, err)
	assert.Len(t, hist, 2)
	require.NoError(t, kv.Delete(ctx, "b"))
	require.NoError(t, kv.Purge(ctx, "c"))
	require.NoError(t, kv.PurgeDeletes(ctx))
	st, err := kv.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "cfg", st.Bucket())
	assert.Equal(t, "cfg", kv.Bucket())

	for _, tc := range []struct {
		op string
		n  int
	}{
		{semconv.OpKVPut, 2}, {semconv.OpKVCreate, 1}, {semconv.OpKVUpdate, 1}, {semconv.OpKVGet, 2},
		{semconv.OpKVKeys, 3}, {semconv.OpKVHistory, 1}, {semconv.OpKVDelete, 1}, {semconv.OpKVPurge, 2},
		{semconv.OpKVStatus, 1},
	} {
		t.Run(tc.op, func(t *testing.T) {
			spans := e.named(tc.op + " cfg")
			require.Len(t, spans, tc.n)
			for _, s := range spans {
				assertSpan(t, s, trace.SpanKindClient, tc.op, "", bucketAttr("cfg"))
				assertOK(t, s)
				_, hasKey := attrs(s.Attributes())[semconv.NATSKVKeyKey]
				assert.False(t, hasKey, "keys are opt-in")
			}
			assert.EqualValues(t, tc.n, histCount(e.collect(t), semconv.MetricOperationDuration, opAttr(tc.op), bucketAttr("cfg")))
		})
	}
}

func TestKeyValueKeysOptIn(t *testing.T) {
	e := newJSEnv(t)
	_, kv := e.kv("cfg", WithKVKeys(true))
	const value = "secret-value-Jx8qWm3zRk5vNp2L" // a marker that cannot occur by chance
	_, err := kv.Put(context.Background(), "user.42", []byte(value))
	require.NoError(t, err)
	s := e.one("kv.put cfg")
	assert.Equal(t, "user.42", attrs(s.Attributes())[semconv.NATSKVKeyKey].AsString())
	// Never on metrics, and never the value.
	for _, p := range e.histPoints(t, semconv.MetricOperationDuration) {
		_, has := p.Attributes.Value(semconv.NATSKVKeyKey)
		assert.False(t, has, "key on a metric")
	}
	assertNoSecrets(t, e.telemetry, value)
}

func TestKeyValueNotFound(t *testing.T) {
	e := newJSEnv(t)
	raw, kv := e.kv("cfg")
	ctx := context.Background()

	_, rawErr := raw.Get(ctx, "missing")
	_, err := kv.Get(ctx, "missing")
	require.Error(t, err)
	assert.True(t, errors.Is(err, jetstream.ErrKeyNotFound))
	assert.Equal(t, rawErr, err, "the very same error")

	// An expected miss by default: recorded with error.type, not as a failure.
	s := e.one("kv.get cfg")
	assertOK(t, s)
	pt := pointWith(t, e.histPoints(t, semconv.MetricOperationDuration), opAttr(semconv.OpKVGet))
	_, hasErr := pt.Attributes.Value(semconv.ErrorTypeKey)
	assert.False(t, hasErr, "a miss is not a failure")

	// A classifier that counts misses as failures sees the same error.
	_, strict := e.kv("strict", WithErrorClassifier(func(error) bool { return true }))
	_, err = strict.Get(ctx, "missing")
	assert.Same(t, jetstream.ErrKeyNotFound, err)
	assertFailed(t, e.one("kv.get strict"), "key_not_found")

	_, err = kv.History(ctx, "missing")
	assert.ErrorIs(t, err, jetstream.ErrKeyNotFound)
}

func TestKeyValueUpdateWrongRevision(t *testing.T) {
	e := newJSEnv(t)
	raw, kv := e.kv("cfg")
	ctx := context.Background()
	rev, err := kv.Put(ctx, "a", []byte("v1"))
	require.NoError(t, err)
	_, err = kv.Put(ctx, "a", []byte("v2"))
	require.NoError(t, err)

	_, rawErr := raw.Update(ctx, "a", []byte("v3"), rev)
	require.Error(t, rawErr)
	_, err = kv.Update(ctx, "a", []byte("v3"), rev)
	require.Error(t, err)
	assert.ErrorIs(t, err, jetstream.ErrKeyRevisionMismatch)
	assert.Equal(t, rawErr.Error(), err.Error())
	var apiErr *jetstream.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, jetstream.JSErrCodeStreamWrongLastSequence, apiErr.ErrorCode)

	s := e.one("kv.update cfg")
	assertFailed(t, s, "10071") // the JetStream error code: wrong last sequence
	assert.EqualValues(t, 1, histCount(e.collect(t), semconv.MetricOperationDuration,
		opAttr(semconv.OpKVUpdate), bucketAttr("cfg"), errAttr("10071")))

	// Create on an existing key: ErrKeyExists passes through.
	_, err = kv.Create(ctx, "a", []byte("v"))
	assert.ErrorIs(t, err, jetstream.ErrKeyExists)
}

func TestKeyValueWatch(t *testing.T) {
	e := newJSEnv(t)
	_, kv := e.kv("cfg")
	ctx := context.Background()
	_, err := kv.Put(ctx, "a", []byte("v1"))
	require.NoError(t, err)

	w, err := kv.WatchAll(ctx)
	require.NoError(t, err)
	got := func() jetstream.KeyValueEntry {
		select {
		case ent := <-w.Updates():
			return ent
		case <-time.After(5 * time.Second):
			t.Fatal("no watch update")
			return nil
		}
	}
	first := got()
	require.NotNil(t, first)
	assert.Equal(t, "a", first.Key())
	assert.Nil(t, got(), "initial values marker passes through")
	_, err = kv.Put(ctx, "b", []byte("v2"))
	require.NoError(t, err)
	assert.Equal(t, "b", got().Key())
	require.NoError(t, w.Stop())
	// After Stop the channel closes.
	for range w.Updates() {
	}

	spans := e.waitNamed("kv.watch cfg", 2)
	for _, s := range spans {
		assertSpan(t, s, trace.SpanKindConsumer, semconv.OpKVWatch, semconv.OpTypeProcess, bucketAttr("cfg"))
	}
	rm := e.collect(t)
	assert.EqualValues(t, 2, histCount(rm, semconv.MetricProcessDuration, opAttr(semconv.OpKVWatch), bucketAttr("cfg")))
	assert.EqualValues(t, 2, sumValue(rm, semconv.MetricConsumedMessages, opAttr(semconv.OpKVWatch), bucketAttr("cfg")))
}

// A watcher that is stopped while nobody reads does not leak the forwarding
// goroutine (goleak in TestMain).
func TestKeyValueWatchStopUnread(t *testing.T) {
	e := newJSEnv(t)
	_, kv := e.kv("cfg")
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		_, err := kv.Put(ctx, "k", []byte("v"))
		require.NoError(t, err)
	}
	w, err := kv.Watch(ctx, "k", jetstream.IncludeHistory())
	require.NoError(t, err)
	wf, err := kv.WatchFiltered(ctx, []string{"k"})
	require.NoError(t, err)
	require.NoError(t, w.Stop())
	require.NoError(t, wf.Stop())
}

// Ending the watch context ends the watch (nats.go unsubscribes) and the
// forwarding goroutine, even when nobody reads (goleak in TestMain).
func TestKeyValueWatchContextEnd(t *testing.T) {
	e := newJSEnv(t)
	_, kv := e.kv("cfg")
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		_, err := kv.Put(ctx, "k"+strconv.Itoa(i), []byte("v"))
		require.NoError(t, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := kv.WatchAll(wctx)
	require.NoError(t, err)
	unread, err := kv.WatchAll(wctx)
	require.NoError(t, err)
	_ = unread
	cancel()
	closed := make(chan struct{})
	go func() {
		for range w.Updates() {
		}
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("updates channel not closed after the watch context ended")
	}
}
