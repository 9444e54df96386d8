package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/naq-io/naq/internal/semconv"
)

// ErrNilConn is returned by [Recorder.Observe] for a nil connection and by
// [Recorder.Dial] when the dial function returns neither a connection nor an
// error.
var ErrNilConn = errors.New("metrics: nil *nats.Conn")

// ErrNilDial is returned by [Recorder.Dial] and [Measure] when the dial
// function is nil.
var ErrNilDial = errors.New("metrics: nil dial function")

// knownErrors maps nats.go sentinels to stable, secret-free error.type values.
var knownErrors = []struct {
	err  error
	name string
}{
	{context.DeadlineExceeded, semconv.ErrorTypeTimeout},
	{nats.ErrTimeout, semconv.ErrorTypeTimeout},
	{os.ErrDeadlineExceeded, semconv.ErrorTypeTimeout},
	{context.Canceled, "canceled"},
	{nats.ErrNoServers, "no_servers"},
	{nats.ErrAuthorization, "authorization"},
	{nats.ErrAuthExpired, "auth_expired"},
	{nats.ErrAuthRevoked, "auth_revoked"},
	{nats.ErrAccountAuthExpired, "account_auth_expired"},
	{nats.ErrConnectionClosed, "connection_closed"},
	{nats.ErrConnectionDraining, "connection_draining"},
	{nats.ErrConnectionReconnecting, "connection_reconnecting"},
	{nats.ErrSecureConnRequired, "secure_connection_required"},
	{nats.ErrSecureConnWanted, "secure_connection_wanted"},
	{nats.ErrStaleConnection, "stale_connection"},
	{nats.ErrMaxConnectionsExceeded, "max_connections_exceeded"},
	{nats.ErrSlowConsumer, "slow_consumer"},
	{nats.ErrNoResponders, "no_responders"},
	{ErrNilConn, "nil_connection"},
}

// ErrorType returns the low-cardinality, secret-free error.type value naq
// records for err: a stable name for well-known nats.go and context errors
// ("timeout", "no_servers", "authorization", ...), "connection_refused" or
// "dial_error" for a failed TCP dial, else the Go type name of the innermost wrapped error. It
// never includes the error message, which may carry URLs or credentials. It
// returns "" for a nil error.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range knownErrors {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return semconv.ErrorTypeTimeout
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "connection_refused"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return "dial_error"
	}
	inner := err
	for {
		u := errors.Unwrap(inner)
		if u == nil {
			break
		}
		inner = u
	}
	return fmt.Sprintf("%T", inner)
}
