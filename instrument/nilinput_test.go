package instrument

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"

	"github.com/naq-io/naq/metrics"
)

// TestNilInputs: nil inputs to the constructors give a documented result
// instead of an anonymous panic. NewJetStream and NewKeyValue return the
// nil interface they were given (a wrapper never fails, and nil stays
// comparable to nil, as it was before wrapping); Connect rejects a nil
// dial with instrument.ErrNilDial, recording nothing.
func TestNilInputs(t *testing.T) {
	tel := newTelemetry(t)
	assert.NotPanics(t, func() {
		var js jetstream.JetStream
		assert.Nil(t, NewJetStream(js))
		assert.Nil(t, NewJetStream(nil, tel.opts()...))
		var kv jetstream.KeyValue
		assert.Nil(t, NewKeyValue(kv))
		assert.Nil(t, NewKeyValue(nil, tel.opts()...))
	})

	for _, ctx := range []context.Context{context.Background(), nil} { //nolint:staticcheck // a nil ctx is documented
		nc, err := Connect(ctx, nil, tel.opts()...)
		assert.Nil(t, nc)
		assert.ErrorIs(t, err, ErrNilDial)
		assert.EqualError(t, err, "instrument: nil dial function")
		assert.ErrorIs(t, err, metrics.ErrNilDial, "still matches the error Connect returned before")
	}
	assert.NotErrorIs(t, metrics.ErrNilDial, ErrNilDial, "metrics' own sentinel stays metrics'")
	assert.Empty(t, tel.spans(), "a rejected call records no span")
}
