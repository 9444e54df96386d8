package metrics

import (
	"errors"

	"github.com/naq-io/naq/internal/semconv"
)

// ErrNilConn is returned by [Recorder.Observe] for a nil connection and by
// [Recorder.Dial] when the dial function returns neither a connection nor an
// error.
var ErrNilConn = errors.New("metrics: nil *nats.Conn")

// ErrNilDial is returned by [Recorder.Dial] and [Measure] (and by
// instrument.Connect) when the dial function is nil.
var ErrNilDial = errors.New("metrics: nil dial function")

// ErrorType returns the low-cardinality, secret-free error.type value naq
// records for err. It is the one error.type vocabulary of naq, shared with
// the instrument pipeline (operation spans and metrics), the connect path
// and [Snapshot].LastError: "circuit_open" for a breaker rejection, else the
// JetStream API error code ("10059"), else a well-known name for nats.go,
// jetstream and context errors ("timeout", "no_responders", "no_servers",
// "authorization", "connection_closed", "slow_consumer", ...),
// "connection_refused" or "dial_error" for a failed TCP dial, else the Go
// type name of the outermost error in the chain that is not an errors.New,
// fmt.Errorf or errors.Join value ("*scope.ConnectError"), else "_OTHER".
// It never includes the error message, which may carry URLs or credentials.
// It returns "" for a nil error.
func ErrorType(err error) string { return semconv.ErrorType(err) }
