package scope_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/scope"
)

// TestWithInstrumentOptionsReachHandles: the instrument options of
// WithInstrumentOptions apply to the handles a pool hands out (here a
// subject namer names the publish span), and not to its dials (a Filter
// that rejects every call leaves the connect span alone).
func TestWithInstrumentOptionsReachHandles(t *testing.T) {
	srv := startServer(t)
	tel := newTelemetry(t)
	p := newPool(t, append(tel.options(), scope.WithInstrumentOptions(
		instrument.WithSubjectNamer(func(string) string { return "all.greetings" }),
		instrument.WithFilter(func(op, _ string) bool { return op != "request" }),
	))...)
	err := scope.Run(context.Background(), srv.URL(), func(_ context.Context, c *instrument.Conn) error {
		if err := c.Publish("greetings.en", []byte("hi")); err != nil {
			return err
		}
		_, _ = c.Request("nobody.home", nil, 0)
		return c.Flush()
	}, scope.WithPool(p), scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	assert.Len(t, tel.spansNamed("publish all.greetings"), 1, "the namer names the handle's spans")
	assert.Empty(t, tel.spansNamed("request"), "the filter applies to the handle")
	assert.Len(t, tel.spansNamed("connect"), 1, "dials are not the handles' options' business")
}
