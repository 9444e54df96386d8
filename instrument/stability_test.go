package instrument

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/oteltest"
	"github.com/naq-io/naq/internal/semconv"
)

// OTEL_SEMCONV_STABILITY_OPT_IN, read when a wrapper is built, decides which
// of the names in semconv.Renames spans and metric data points carry: the
// default names, the newer ones ("messaging") or both ("messaging/dup"),
// always with the same value. Everything else is the same in every mode.
func TestSemconvStabilityOptIn(t *testing.T) {
	for _, c := range []struct {
		env            string
		oldSet, newSet bool
	}{
		{"", true, false},
		{"http", true, false},
		{"messaging", false, true},
		{"messaging/dup", true, true},
		{"http/dup, messaging , messaging/dup", true, true},
	} {
		name := c.env
		if name == "" {
			name = "unset"
		}
		t.Run(name, func(t *testing.T) {
			t.Setenv(semconv.EnvStabilityOptIn, c.env)
			e := newJSEnv(t)
			ctx := context.Background()
			conn := NewConn(e.nc, e.o...) // its Recorder reports nats.client.* for nc
			require.NoError(t, conn.Publish("core.ping", []byte("x")))

			e.stream("ORD", "ord.>")
			e.publishN("ord.new", 1)
			msg, err := e.consumer("ORD", "w").Next(jetstream.FetchMaxWait(5 * time.Second))
			require.NoError(t, err)
			require.NoError(t, msg.Ack())

			kv, err := e.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
			require.NoError(t, err)
			_, err = kv.Put(ctx, "k", []byte("v"))
			require.NoError(t, err)

			// check asserts that the old and new names of every rename in
			// want are present exactly as the mode says, with want's value.
			check := func(what string, get func(attribute.Key) (attribute.Value, bool), want ...attribute.KeyValue) {
				t.Helper()
				news := map[attribute.Key]attribute.Key{}
				for _, r := range semconv.Renames() {
					news[r.Old] = r.New
				}
				for _, w := range want {
					newKey, ok := news[w.Key]
					require.True(t, ok, "%s is not a renamed key", w.Key)
					for key, present := range map[attribute.Key]bool{w.Key: c.oldSet, newKey: c.newSet} {
						v, ok := get(key)
						if assert.Equal(t, present, ok, "%s: %s present", what, key) && ok {
							assert.Equal(t, w.Value.Emit(), v.Emit(), "%s: %s", what, key)
						}
					}
				}
				v, ok := get(semconv.MessagingOperationNameKey)
				assert.True(t, ok && v.AsString() != "", "%s: messaging.operation.name in every mode", what)
			}
			spanGet := func(name string) func(attribute.Key) (attribute.Value, bool) {
				m := attrs(e.one(name).Attributes())
				return func(k attribute.Key) (attribute.Value, bool) { v, ok := m[k]; return v, ok }
			}
			sys := semconv.MessagingSystemKey.String(semconv.SystemName)
			stream := semconv.NATSStreamKey.String("ORD")
			bucket := semconv.NATSKVBucketKey.String("cfg")

			check("core publish span", spanGet("publish core.ping"), sys)
			check("js publish span", spanGet("publish ord.new"), sys)
			check("receive span", spanGet("receive ORD"), sys, stream,
				semconv.NATSConsumerKey.String("w"),
				semconv.NATSDeliveryCountKey.Int64(1),
				semconv.NATSStreamSequenceKey.Int64(1))
			check("ack span", spanGet("ack ORD"), sys, stream)
			check("kv span", spanGet("kv.put cfg"), sys, bucket)

			rm := e.collect(t)
			point := func(metric string, op string) func(attribute.Key) (attribute.Value, bool) {
				t.Helper()
				for _, set := range stabilityPoints(t, rm, metric) {
					v, ok := set.Value(semconv.MessagingOperationNameKey)
					if op == "" || (ok && v.AsString() == op) {
						return set.Value
					}
				}
				require.Failf(t, "no data point", "%s with operation %q", metric, op)
				return nil
			}
			check("receive duration", point(semconv.MetricOperationDuration, semconv.OpReceive), sys, stream)
			check("kv duration", point(semconv.MetricOperationDuration, semconv.OpKVPut), sys, bucket)
			check("sent messages", point(semconv.MetricSentMessages, semconv.OpPublish), sys)

			// The connection metrics carry no operation: check the system
			// name alone on the Recorder's set.
			active := stabilityPoints(t, rm, semconv.MetricConnectionsActive)
			require.NotEmpty(t, active)
			_, hasOld := active[0].Value(semconv.MessagingSystemKey)
			v, hasNew := active[0].Value("messaging.system.name")
			assert.Equal(t, c.oldSet, hasOld, "connections.active: messaging.system")
			if assert.Equal(t, c.newSet, hasNew, "connections.active: messaging.system.name") && hasNew {
				assert.Equal(t, semconv.SystemName, v.AsString())
			}

			// The metric names themselves never switch.
			for _, name := range []string{semconv.MetricOperationDuration, semconv.MetricSentMessages, semconv.MetricConsumedMessages} {
				assert.NotEmpty(t, stabilityPoints(t, rm, name), name)
			}
		})
	}
}

// stabilityPoints returns the attribute sets of the data points of metric name.
func stabilityPoints(t *testing.T, rm metricdata.ResourceMetrics, name string) []attribute.Set {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return oteltest.PointAttributes(m)
			}
		}
	}
	return nil
}
