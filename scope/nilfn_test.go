package scope_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/scope"
)

// TestHelpersRejectNilFn: every scoped helper given a nil closure returns
// a typed error naming itself, before loading a config or dialing (the
// URL here is not even valid, and the pool sees no dial).
func TestHelpersRejectNilFn(t *testing.T) {
	var dials atomic.Int32
	p, err := scope.NewPool(scope.WithDialObserver(func(scope.DialEvent) { dials.Add(1) }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	ctx := context.Background()
	const url = "http://not-a-nats-url"
	opts := []scope.Option{scope.WithPool(p), scope.WithLookupEnv(noEnv)}
	calls := map[string]func() error{
		"Run": func() error { return scope.Run(ctx, url, nil, opts...) },
		"Do": func() error {
			_, err := scope.Do[int](ctx, url, nil, opts...)
			return err
		},
		"JetStream": func() error { return scope.JetStream(ctx, url, nil, opts...) },
		"DoJetStream": func() error {
			_, err := scope.DoJetStream[int](ctx, url, nil, opts...)
			return err
		},
		"KeyValue": func() error { return scope.KeyValue(ctx, url, "bucket", nil, opts...) },
		"DoKeyValue": func() error {
			_, err := scope.DoKeyValue[int](ctx, url, "bucket", nil, opts...)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = call() })
			require.ErrorIs(t, err, scope.ErrInvalidOption)
			assert.NotErrorIs(t, err, scope.ErrInvalidConfig, "no config was loaded")
			assert.EqualError(t, err, "scope: invalid option: "+name+": fn is nil")
		})
	}
	assert.Zero(t, dials.Load(), "no dial")

	// Typed nil closures are nil too.
	var cfn func(context.Context, *instrument.Conn) error
	assert.ErrorIs(t, scope.Run(ctx, url, cfn, opts...), scope.ErrInvalidOption)
	var jfn func(context.Context, jetstream.JetStream) error
	assert.ErrorIs(t, scope.JetStream(ctx, url, jfn, opts...), scope.ErrInvalidOption)
}
