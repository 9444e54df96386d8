package instrument

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
)

// labelValues returns, for every data point of every metric in rm that
// carries key and all of want, the value of key, with how many points carry
// it.
func labelValues(rm metricdata.ResourceMetrics, key attribute.Key, want ...attribute.KeyValue) map[string]int {
	out := map[string]int{}
	add := func(set attribute.Set) {
		if v, ok := set.Value(key); ok && hasAll(set, want) {
			out[v.Emit()]++
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			}
		}
	}
	return out
}

// keys returns the keys of m, sorted.
func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Streams, KeyValue and ObjectStore buckets, durables and queue groups pass
// the one cap (WithMaxTemplates, here 2): every metric label holds the first
// two names of its kind and "_OTHER", whatever the number of names; span
// names use the capped name and spans keep the real one; the gate's
// breakers are keyed by the capped name; and every call returns what raw
// nats.go returns.
func TestNameCap(t *testing.T) {
	e := newJSEnv(t)
	g, err := circuit.NewGate("names", circuit.WithMeterProvider(e.mp))
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	o := e.opts(WithMaxTemplates(2), WithGate(g))
	js := NewJetStream(e.raw, o...)
	ctx := context.Background()
	const n = 4 // names of each kind: two over the cap

	for i := range n {
		name := fmt.Sprintf("N%d", i)
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{fmt.Sprintf("n%d.>", i)}})
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		raw, err := e.raw.Stream(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, raw.CachedInfo().Config, info.Config, "the wrapped stream is the stream %s", name)

		bucket := fmt.Sprintf("K%d", i)
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
		require.NoError(t, err)
		rev, err := kv.Put(ctx, "k", []byte(bucket))
		require.NoError(t, err)
		got, err := kv.Get(ctx, "k")
		require.NoError(t, err)
		rawKV, err := e.raw.KeyValue(ctx, bucket)
		require.NoError(t, err)
		want, err := rawKV.Get(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, bucket, string(got.Value()))
		assert.Equal(t, want.Value(), got.Value())
		assert.Equal(t, rev, got.Revision())
		assert.Equal(t, want.Revision(), got.Revision())

		obj := fmt.Sprintf("O%d", i)
		os, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: obj})
		require.NoError(t, err)
		_, err = os.PutString(ctx, "f", obj)
		require.NoError(t, err)
		body, err := os.GetString(ctx, "f")
		require.NoError(t, err)
		assert.Equal(t, obj, body)
	}

	// Durables on N0: D0, D1 keep their names, D2 and D3 are "_OTHER".
	_, err = e.raw.Publish(ctx, "n0.x", []byte("m"))
	require.NoError(t, err)
	for i := range n {
		durable := fmt.Sprintf("D%d", i)
		c, err := js.CreateOrUpdateConsumer(ctx, "N0", jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy})
		require.NoError(t, err)
		assert.Equal(t, durable, c.CachedInfo().Name)
		m, err := c.Next(jetstream.FetchMaxWait(waitFor))
		require.NoError(t, err)
		assert.Equal(t, "m", string(m.Data()))
		require.NoError(t, m.Ack())
	}

	// Queue groups of a core subscription: each group gets its copy.
	conn := NewConn(e.nc2, o...)
	got := make(chan string, n)
	for i := range n {
		queue := fmt.Sprintf("Q%d", i)
		_, err := conn.QueueSubscribe("qs", queue, func(m *nats.Msg) { got <- queue + ":" + string(m.Data) })
		require.NoError(t, err)
	}
	require.NoError(t, conn.Flush())
	require.NoError(t, e.nc.Publish("qs", []byte("hi")))
	var delivered []string
	for range n {
		select {
		case s := <-got:
			delivered = append(delivered, s)
		case <-time.After(waitFor):
			t.Fatalf("delivered %v", delivered)
		}
	}
	sort.Strings(delivered)
	assert.Equal(t, []string{"Q0:hi", "Q1:hi", "Q2:hi", "Q3:hi"}, delivered)

	rm := e.collect(t)
	other := semconv.OtherValue
	assert.Equal(t, []string{"N0", "N1", other}, keys(labelValues(rm, semconv.NATSStreamKey)))
	assert.Equal(t, []string{"K0", "K1", other}, keys(labelValues(rm, semconv.NATSKVBucketKey)))
	assert.Equal(t, []string{"O0", "O1", other}, keys(labelValues(rm, semconv.NATSObjBucketKey)))
	assert.Equal(t, []string{"D0", "D1", other},
		keys(labelValues(rm, semconv.MessagingConsumerGroupNameKey, streamAttr("N0"))), "durables")
	assert.Equal(t, []string{"Q0", "Q1", other},
		keys(labelValues(rm, semconv.MessagingConsumerGroupNameKey, semconv.MessagingDestinationNameKey.String("qs"))), "queue groups")
	// Two names over the cap share "_OTHER": the calls of both are counted.
	assert.EqualValues(t, 2, histCount(rm, semconv.MetricOperationDuration,
		opAttr(semconv.OpKVPut), semconv.NATSKVBucketKey.String(other)))
	assert.EqualValues(t, 2, histCount(rm, semconv.MetricProcessDuration,
		groupAttr(other), semconv.MessagingDestinationNameKey.String("qs")))
	assert.EqualValues(t, 2, histCount(rm, semconv.MetricOperationDuration,
		opAttr(semconv.OpAck), streamAttr("N0"), groupAttr(other)))
	// The gate's breakers: one per family and capped name.
	for _, d := range keys(labelValues(rm, semconv.NATSCircuitDestinationKey)) {
		for _, raw := range []string{"N2", "N3", "K2", "K3", "O2", "O3"} {
			assert.NotContains(t, d, raw, "breaker %q", d)
		}
	}
	assert.Contains(t, labelValues(rm, semconv.NATSCircuitDestinationKey), "kv "+other)

	// Span names carry the capped name, the spans the real one.
	spans := e.spans()
	for _, c := range []struct {
		name string
		kv   attribute.KeyValue
	}{
		{"js.stream.create " + other, streamAttr("N2")},
		{"js.stream.create " + other, streamAttr("N3")},
		{"js.key_value.create " + other, semconv.NATSKVBucketKey.String("K3")},
		{"js.object_store.create " + other, semconv.NATSObjBucketKey.String("O2")},
		{"kv.get " + other, semconv.NATSKVBucketKey.String("K2")},
		{"obj.put " + other, semconv.NATSObjBucketKey.String("O3")},
		{"process qs", groupAttr("Q3")},
	} {
		found := false
		for _, s := range spans {
			if v, ok := attrs(s.Attributes())[c.kv.Key]; ok && s.Name() == c.name && v.Emit() == c.kv.Value.Emit() {
				found = true
			}
		}
		assert.True(t, found, "span %q with %s=%s", c.name, c.kv.Key, c.kv.Value.Emit())
	}
	for _, s := range spans {
		for _, raw := range []string{"N2", "N3", "K2", "K3", "O2", "O3"} {
			assert.NotContains(t, s.Name(), raw)
		}
	}
	spanNamed(t, spans, "kv.get K1")
}

// The Filter sees the real name, not the capped one.
func TestNameCapFilterSeesRealName(t *testing.T) {
	e := newJSEnv(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	js := NewJetStream(e.raw, e.opts(WithMaxTemplates(1), WithFilter(func(op, dest string) bool {
		mu.Lock()
		defer mu.Unlock()
		seen[dest] = true
		return dest != "F2"
	}))...)
	ctx := context.Background()
	for _, b := range []string{"F0", "F1", "F2"} {
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b})
		require.NoError(t, err)
		_, err = kv.Put(ctx, "k", []byte("v"))
		require.NoError(t, err)
	}
	mu.Lock()
	assert.True(t, seen["F1"] && seen["F2"], "the Filter saw %v", seen)
	assert.False(t, seen[semconv.OtherValue], "the Filter never sees the capped name")
	mu.Unlock()
	puts := e.named("kv.put " + semconv.OtherValue)
	require.Len(t, puts, 1, "F2 is filtered, F1 is recorded as _OTHER")
	assertAttrs(t, puts[0].Attributes(), semconv.NATSKVBucketKey.String("F1"))
	spanNamed(t, e.spans(), "kv.put F0")
	assert.Equal(t, []string{"F0", semconv.OtherValue}, keys(labelValues(e.collect(t), semconv.NATSKVBucketKey)))
}

// Names of every kind declared and recorded from many goroutines while
// metrics are collected: each kind ends with exactly the cap plus
// "_OTHER", every name maps to one value for all goroutines, and the cap
// admits exactly max names.
func TestNameCapConcurrent(t *testing.T) {
	tel := newTelemetry(t)
	const max, names, workers = 8, 64, 8
	p := newPipeline(nil, tel.opts(WithMaxTemplates(max)))
	m := &mgmtSpecs{p: p}
	mgmtKeys := map[nameKind]attribute.Key{
		nameStream: semconv.NATSStreamKey, nameKVBucket: semconv.NATSKVBucketKey, nameObjBucket: semconv.NATSObjBucketKey,
	}

	stop := make(chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case <-stop:
				return
			default:
				tel.collect(t)
			}
		}
	}()

	results := make([][numNameKinds][names]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				j := (i*7 + w*13) % names // each worker its own order
				for k := range numNameKinds {
					kind := nameKind(k)
					raw := fmt.Sprintf("%d-%d", k, j)
					results[w][k][j] = p.name(kind, raw)
					if key, ok := mgmtKeys[kind]; ok {
						s := m.spec("js.op", raw, key)
						assert.Equal(t, "js.op "+results[w][k][j], s.name)
						assert.NoError(t, run(context.Background(), p, s, func(context.Context) error { return nil }))
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-collected

	for k := range numNameKinds {
		distinct := map[string]bool{}
		kept := 0
		for j := range names {
			v := results[0][k][j]
			for w := range workers {
				assert.Equal(t, v, results[w][k][j], "kind %d name %d: one value for every goroutine", k, j)
			}
			distinct[v] = true
			if v != semconv.OtherValue {
				assert.Equal(t, fmt.Sprintf("%d-%d", k, j), v, "a kept name is itself")
				kept++
			}
		}
		assert.Equal(t, max, kept, "kind %d", k)
		assert.Len(t, distinct, max+1, "kind %d", k)
	}
	rm := tel.collect(t)
	for kind, key := range mgmtKeys {
		vals := labelValues(rm, key)
		assert.Len(t, vals, max+1, "%s: %v", key, keys(vals))
		assert.Contains(t, vals, semconv.OtherValue)
		assert.EqualValues(t, workers*(names-max), histCount(rm, semconv.MetricOperationDuration, key.String(semconv.OtherValue)), "kind %d", kind)
	}
	assert.Equal(t, "", p.name(nameStream, ""), "no name stays no name")
}

// The legacy JetStreamContext passes the same caps: streams, KeyValue and
// ObjectStore buckets, and the queue groups of QueueSubscribe.
func TestNameCapLegacy(t *testing.T) {
	e := newLegacyEnv(t, WithMaxTemplates(1))
	const n = 3
	for i := range n {
		name := fmt.Sprintf("L%d", i)
		info, err := e.lj.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{fmt.Sprintf("l%d.>", i)}})
		require.NoError(t, err)
		assert.Equal(t, name, info.Config.Name)

		bucket := fmt.Sprintf("LK%d", i)
		kv, err := e.lj.CreateKeyValue(&nats.KeyValueConfig{Bucket: bucket})
		require.NoError(t, err)
		_, err = kv.Put("k", []byte(bucket))
		require.NoError(t, err)
		got, err := kv.Get("k")
		require.NoError(t, err)
		assert.Equal(t, bucket, string(got.Value()))

		obj := fmt.Sprintf("LO%d", i)
		os, err := e.lj.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: obj})
		require.NoError(t, err)
		_, err = os.PutString("f", obj)
		require.NoError(t, err)
		body, err := os.GetString("f")
		require.NoError(t, err)
		assert.Equal(t, obj, body)
	}
	got := make(chan string, n)
	for i := range n {
		queue := fmt.Sprintf("LQ%d", i)
		_, err := e.lj2.QueueSubscribe("l0.q", queue, func(m *nats.Msg) { got <- queue })
		require.NoError(t, err)
	}
	_, err := e.rawL.Publish("l0.q", []byte("x"))
	require.NoError(t, err)
	var delivered []string
	for range n {
		select {
		case q := <-got:
			delivered = append(delivered, q)
		case <-time.After(waitFor):
			t.Fatalf("delivered %v", delivered)
		}
	}
	sort.Strings(delivered)
	assert.Equal(t, []string{"LQ0", "LQ1", "LQ2"}, delivered)

	require.Eventually(t, func() bool {
		return histCount(e.collect(t), semconv.MetricProcessDuration) == n
	}, waitFor, 5*time.Millisecond, "the queue handlers' process spans end after they return")
	rm := e.collect(t)
	other := semconv.OtherValue
	assert.Equal(t, []string{"L0", other}, keys(labelValues(rm, semconv.NATSStreamKey)))
	assert.Equal(t, []string{"LK0", other}, keys(labelValues(rm, semconv.NATSKVBucketKey)))
	assert.Equal(t, []string{"LO0", other}, keys(labelValues(rm, semconv.NATSObjBucketKey)))
	// The legacy API names a queue's consumer at its first message, and the
	// three handlers get theirs at once: whichever comes first keeps its name.
	groups := keys(labelValues(rm, semconv.MessagingConsumerGroupNameKey))
	if assert.Len(t, groups, 2, "%v", groups) {
		assert.Contains(t, []string{"LQ0", "LQ1", "LQ2"}, groups[0])
		assert.Equal(t, other, groups[1])
	}
	assert.EqualValues(t, 2, histCount(rm, semconv.MetricProcessDuration, groupAttr(other)))
}
