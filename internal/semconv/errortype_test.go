package semconv_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
)

type customErr struct{}

func (customErr) Error() string { return "custom secret-detail" }

type ptrErr struct{ err error }

func (e *ptrErr) Error() string { return "ptr: " + e.err.Error() }
func (e *ptrErr) Unwrap() error { return e.err }

func TestErrorType(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&circuit.OpenError{Name: "b"}, "circuit_open"},
		{fmt.Errorf("w: %w", &circuit.OpenError{}), "circuit_open"},
		{jetstream.ErrStreamNotFound, "10059"},
		{fmt.Errorf("wrapped: %w", jetstream.ErrConsumerNotFound), "10014"},
		{&jetstream.APIError{ErrorCode: 10071, Code: 400}, "10071"},
		{jetstream.ErrKeyExists, "10071"},
		{nats.ErrStreamNotFound, "10059"},
		{nats.ErrTimeout, "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{os.ErrDeadlineExceeded, "timeout"},
		{jetstream.ErrAsyncPublishTimeout, "timeout"},
		{fmt.Errorf("x: %w", context.Canceled), "canceled"},
		{nats.ErrNoResponders, "no_responders"},
		{jetstream.ErrNoStreamResponse, "no_responders"},
		{nats.ErrNoServers, "no_servers"},
		{fmt.Errorf("dial: %w", nats.ErrNoServers), "no_servers"},
		{nats.ErrConnectionClosed, "connection_closed"},
		{jetstream.ErrConnectionClosed, "connection_closed"},
		{nats.ErrAuthorization, "authorization"},
		{nats.ErrPermissionViolation, "permissions_violation"},
		{nats.ErrSlowConsumer, "slow_consumer"},
		{nats.ErrMaxConnectionsExceeded, "max_connections_exceeded"},
		{jetstream.ErrKeyNotFound, "key_not_found"},
		{nats.ErrKeyNotFound, "key_not_found"},
		{jetstream.ErrNoHeartbeat, "no_heartbeat"},
		{fmt.Errorf("fetch: %w", jetstream.ErrServerShutdown), "server_shutdown"},
		{refused, "connection_refused"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("no such host")}, "dial_error"},
		{&net.DNSError{Err: "x", IsTimeout: true}, "timeout"},
		{errors.Join(errors.New("nats://user:secret@host"), nats.ErrNoResponders), "no_responders"},
		{errors.New("anything at all"), "_OTHER"},
		{fmt.Errorf("wrap: %w", errors.New("x")), "_OTHER"},
		{errors.Join(errors.New("a"), errors.New("b")), "_OTHER"},
		{customErr{}, "semconv_test.customErr"},
		{fmt.Errorf("wrap: %w", customErr{}), "semconv_test.customErr"},
		{&ptrErr{err: customErr{}}, "*semconv_test.ptrErr"},
	} {
		t.Run(tc.want+"/"+tc.err.Error(), func(t *testing.T) {
			got := semconv.ErrorType(tc.err)
			assert.Equal(t, tc.want, got)
			assert.NotContains(t, got, "secret")
		})
	}
	assert.Equal(t, "", semconv.ErrorType(nil))
}

func TestErrorTypeOfSentinelsDoesNotAllocate(t *testing.T) {
	for _, err := range []error{nats.ErrTimeout, &circuit.OpenError{}, nats.ErrAuthorization,
		fmt.Errorf("w: %w", nats.ErrNoServers)} {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = semconv.ErrorType(err) }), "%v", err)
	}
}
