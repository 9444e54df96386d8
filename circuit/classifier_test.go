package circuit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/internal/natstest"
)

func TestDefaultClassifierTable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"canceled", context.Canceled, false},
		{"wrapped canceled", fmt.Errorf("op: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, true},
		{"connection closed", nats.ErrConnectionClosed, true},
		{"draining", nats.ErrConnectionDraining, true},
		{"no servers", nats.ErrNoServers, true},
		{"timeout", nats.ErrTimeout, true},
		{"wrapped timeout", fmt.Errorf("request: %w", nats.ErrTimeout), true},
		{"no responders", nats.ErrNoResponders, true},
		{"no stream response", jetstream.ErrNoStreamResponse, true},
		{"key not found", jetstream.ErrKeyNotFound, false},
		{"wrapped key not found", fmt.Errorf("get: %w", jetstream.ErrKeyNotFound), false},
		{"key exists", jetstream.ErrKeyExists, false},
		{"msg not found", jetstream.ErrMsgNotFound, false},
		{"legacy key not found", nats.ErrKeyNotFound, false},
		{"bad subject", nats.ErrBadSubject, false},
		{"wrong last sequence", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}, false},
		{"wrong last sequence R>1", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequenceConstant}, false},
		{"api 4xx", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeBadRequest}, false},
		{"api 5xx", &jetstream.APIError{Code: 503, ErrorCode: 10008}, true},
		{"wrapped api 5xx", fmt.Errorf("js: %w", &jetstream.APIError{Code: 500, ErrorCode: 10999}), true},
		{"legacy api 5xx", &nats.APIError{Code: 503, ErrorCode: 10008}, true},
		{"legacy wrong last sequence", &nats.APIError{Code: 400, ErrorCode: nats.JSErrCodeStreamWrongLastSequence}, false},
		{"unknown", errors.New("something broke"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, DefaultClassifier(tt.err), "%v", tt.err)
		})
	}
}

// TestDefaultClassifierRealErrors classifies the errors a real server
// returns, not hand-made copies.
func TestDefaultClassifierRealErrors(t *testing.T) {
	srv := natstest.RunServer(t)
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "classify"})
	require.NoError(t, err)
	rev, err := kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)

	_, err = kv.Get(ctx, "missing")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)
	assert.False(t, DefaultClassifier(err), "key not found: %v", err)

	_, err = kv.Create(ctx, "k", []byte("again"))
	require.Error(t, err)
	assert.False(t, DefaultClassifier(err), "key exists: %v", err)

	_, err = kv.Update(ctx, "k", []byte("stale"), rev+10)
	require.Error(t, err)
	var apiErr *jetstream.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, jetstream.JSErrCodeStreamWrongLastSequence, apiErr.ErrorCode)
	assert.False(t, DefaultClassifier(err), "wrong last sequence: %v", err)

	_, err = js.Stream(ctx, "NOPE")
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	assert.False(t, DefaultClassifier(err), "stream not found: %v", err)

	_, err = nc.Request("nobody.listens", nil, time.Second)
	require.ErrorIs(t, err, nats.ErrNoResponders)
	assert.True(t, DefaultClassifier(err), "no responders: %v", err)

	sub, err := nc.SubscribeSync("silent")
	require.NoError(t, err)
	defer sub.Unsubscribe()
	_, err = nc.Request("silent", nil, 20*time.Millisecond)
	require.ErrorIs(t, err, nats.ErrTimeout)
	assert.True(t, DefaultClassifier(err), "timeout: %v", err)

	nc.Close()
	_, err = kv.Get(ctx, "k")
	require.Error(t, err)
	assert.True(t, DefaultClassifier(err), "closed connection: %v", err)
}
