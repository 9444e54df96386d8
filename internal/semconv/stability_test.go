package semconv_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/naq-io/naq/internal/semconv"
)

func TestParseStability(t *testing.T) {
	for _, c := range []struct {
		in   string
		want semconv.Stability
	}{
		{"", semconv.StabilityDefault},
		{"http", semconv.StabilityDefault},
		{"http/dup,database", semconv.StabilityDefault},
		{"messaging", semconv.StabilityMessaging},
		{"MESSAGING", semconv.StabilityMessaging},
		{" http , messaging ", semconv.StabilityMessaging},
		{"messaging/dup", semconv.StabilityMessagingDup},
		{"http,messaging/dup", semconv.StabilityMessagingDup},
		{"messaging,messaging/dup", semconv.StabilityMessagingDup}, // dup wins
		{"messaging/dup,messaging", semconv.StabilityMessagingDup},
		{"messagingx", semconv.StabilityDefault},
		{"messaging/dupx", semconv.StabilityDefault},
		{"messaging_latest_experimental", semconv.StabilityDefault},
		{"messaging;messaging/dup", semconv.StabilityDefault}, // not a comma
		{",,", semconv.StabilityDefault},
	} {
		assert.Equal(t, c.want, semconv.ParseStability(c.in), "%q", c.in)
	}
}

func TestStabilityFromEnv(t *testing.T) {
	for in, want := range map[string]semconv.Stability{
		"":                   semconv.StabilityDefault,
		"messaging":          semconv.StabilityMessaging,
		"http,messaging/dup": semconv.StabilityMessagingDup,
	} {
		t.Setenv(semconv.EnvStabilityOptIn, in)
		assert.Equal(t, want, semconv.StabilityFromEnv(), "%q", in)
	}
}

func TestStabilityString(t *testing.T) {
	assert.Equal(t, "default", semconv.StabilityDefault.String())
	assert.Equal(t, "messaging", semconv.StabilityMessaging.String())
	assert.Equal(t, "messaging/dup", semconv.StabilityMessagingDup.String())
	for _, s := range []semconv.Stability{semconv.StabilityMessaging, semconv.StabilityMessagingDup} {
		assert.Equal(t, s, semconv.ParseStability(s.String()))
	}
}

func TestRenames(t *testing.T) {
	want := map[attribute.Key]attribute.Key{
		"messaging.system":                       "messaging.system.name",
		"messaging.nats.stream":                  "nats.stream",
		"messaging.nats.consumer":                "nats.consumer",
		"messaging.nats.message.delivery_count":  "nats.message.delivery_count",
		"messaging.nats.message.stream_sequence": "nats.message.stream_sequence",
		"messaging.nats.kv.bucket":               "nats.kv.bucket",
		"messaging.nats.kv.key":                  "nats.kv.key",
		"messaging.nats.obj.bucket":              "nats.obj.bucket",
	}
	got := map[attribute.Key]attribute.Key{}
	for _, r := range semconv.Renames() {
		got[r.Old] = r.New
		// Every messaging.nats.<x> becomes nats.<x>.
		if rest, ok := strings.CutPrefix(string(r.Old), "messaging.nats."); ok {
			assert.Equal(t, "nats."+rest, string(r.New))
		}
	}
	assert.Equal(t, want, got)

	// Renames returns a copy.
	rs := semconv.Renames()
	rs[0].New = "changed"
	assert.Equal(t, attribute.Key("messaging.system.name"), semconv.Renames()[0].New)
}

func TestStabilityAttrs(t *testing.T) {
	stream := semconv.NATSStreamKey.String("ORDERS")
	op := semconv.MessagingOperationNameKey.String("publish")
	in := []attribute.KeyValue{semconv.System, op, stream}
	orig := append([]attribute.KeyValue(nil), in...)

	for _, c := range []struct {
		s    semconv.Stability
		want []attribute.KeyValue
	}{
		{semconv.StabilityDefault, in},
		{semconv.StabilityMessaging, []attribute.KeyValue{
			attribute.String("messaging.system.name", "nats"), op, attribute.String("nats.stream", "ORDERS"),
		}},
		{semconv.StabilityMessagingDup, []attribute.KeyValue{
			semconv.System, attribute.String("messaging.system.name", "nats"), op,
			stream, attribute.String("nats.stream", "ORDERS"),
		}},
	} {
		t.Run(c.s.String(), func(t *testing.T) {
			assert.Equal(t, c.want, c.s.Attrs(in))
			assert.Equal(t, orig, in, "input modified")
		})
	}

	// Nothing switches: the input itself comes back, under every value.
	plain := []attribute.KeyValue{op, semconv.ErrorTypeKey.String("timeout")}
	for _, s := range []semconv.Stability{semconv.StabilityDefault, semconv.StabilityMessaging, semconv.StabilityMessagingDup} {
		out := s.Attrs(plain)
		require.Len(t, out, len(plain))
		assert.Same(t, &plain[0], &out[0], "%s copied a list with nothing to rename", s)
		assert.Nil(t, s.Attrs(nil))
	}

	// An int value keeps its type under the new name.
	seq := semconv.StabilityMessaging.Attrs([]attribute.KeyValue{semconv.NATSStreamSequenceKey.Int64(42)})
	assert.Equal(t, []attribute.KeyValue{attribute.Int64("nats.message.stream_sequence", 42)}, seq)
}

func TestStabilityAttrsAllocs(t *testing.T) {
	in := []attribute.KeyValue{semconv.System, semconv.NATSStreamKey.String("ORDERS")}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = semconv.StabilityDefault.Attrs(in) }))
}
