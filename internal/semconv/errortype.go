package semconv

import (
	"context"
	"errors"
	"net"
	"os"
	"reflect"
	"strconv"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Well-known error.type values of sentinels. Together with
// [ErrorTypeCircuitOpen], [ErrorTypeTimeout], JetStream API error codes
// ("10059"), Go type names of errors ("*scope.ConnectError") and
// [ErrorTypeOther] they are the whole error.type vocabulary of naq; see
// [ErrorType]. Unexported: only ErrorType produces them.
const (
	etCanceled                 = "canceled"
	etNoResponders             = "no_responders"
	etNoServers                = "no_servers"
	etConnectionRefused        = "connection_refused"
	etDialError                = "dial_error"
	etConnectionClosed         = "connection_closed"
	etConnectionDraining       = "connection_draining"
	etConnectionReconnecting   = "connection_reconnecting"
	etStaleConnection          = "stale_connection"
	etMaxConnectionsExceeded   = "max_connections_exceeded"
	etSecureConnectionRequired = "secure_connection_required"
	etSecureConnectionWanted   = "secure_connection_wanted"
	etAuthorization            = "authorization"
	etAuthExpired              = "auth_expired"
	etAuthRevoked              = "auth_revoked"
	etAccountAuthExpired       = "account_auth_expired"
	etPermissionsViolation     = "permissions_violation"
	etSlowConsumer             = "slow_consumer"
	etBadSubject               = "bad_subject"
	etInvalidMsg               = "invalid_msg"
	etMaxPayload               = "max_payload"
	etBadSubscription          = "bad_subscription"
	etInvalidContext           = "invalid_context"
	etNoDeadline               = "no_deadline"
	etKeyNotFound              = "key_not_found"
	etKeyDeleted               = "key_deleted"
	etNoKeysFound              = "no_keys_found"
	etKeyRevisionMismatch      = "key_revision_mismatch"
	etBucketNotFound           = "bucket_not_found"
	etNoMessages               = "no_messages"
	etNoHeartbeat              = "no_heartbeat"
	etMsgAlreadyAcked          = "msg_already_acked"
	etMsgNotBound              = "msg_not_bound"
	etMsgNoReply               = "msg_no_reply"
	etConsumerDeleted          = "consumer_deleted"
	etPublisherClosed          = "publisher_closed"
	etTooManyStalledMsgs       = "too_many_stalled_msgs"
	etServerShutdown           = "server_shutdown"
)

// namedErrors maps well-known sentinels to their error.type, first match
// wins. One spelling per meaning: a nats.go sentinel and its jetstream twin
// share a name.
var namedErrors = []struct {
	err  error
	name string
}{
	{context.DeadlineExceeded, ErrorTypeTimeout},
	{nats.ErrTimeout, ErrorTypeTimeout},
	{os.ErrDeadlineExceeded, ErrorTypeTimeout},
	{jetstream.ErrAsyncPublishTimeout, ErrorTypeTimeout},
	{context.Canceled, etCanceled},
	{nats.ErrNoResponders, etNoResponders},
	{jetstream.ErrNoStreamResponse, etNoResponders},
	{nats.ErrNoServers, etNoServers},
	{nats.ErrConnectionClosed, etConnectionClosed},
	{jetstream.ErrConnectionClosed, etConnectionClosed},
	{nats.ErrConnectionDraining, etConnectionDraining},
	{nats.ErrConnectionReconnecting, etConnectionReconnecting},
	{nats.ErrStaleConnection, etStaleConnection},
	{nats.ErrMaxConnectionsExceeded, etMaxConnectionsExceeded},
	{nats.ErrSecureConnRequired, etSecureConnectionRequired},
	{nats.ErrSecureConnWanted, etSecureConnectionWanted},
	{nats.ErrAuthorization, etAuthorization},
	{nats.ErrAuthExpired, etAuthExpired},
	{nats.ErrAuthRevoked, etAuthRevoked},
	{nats.ErrAccountAuthExpired, etAccountAuthExpired},
	{nats.ErrPermissionViolation, etPermissionsViolation},
	{nats.ErrSlowConsumer, etSlowConsumer},
	{nats.ErrBadSubject, etBadSubject},
	{jetstream.ErrInvalidSubject, etBadSubject},
	{nats.ErrInvalidMsg, etInvalidMsg},
	{nats.ErrMaxPayload, etMaxPayload},
	{nats.ErrBadSubscription, etBadSubscription},
	{nats.ErrInvalidContext, etInvalidContext},
	{nats.ErrNoDeadlineContext, etNoDeadline},
	{jetstream.ErrKeyNotFound, etKeyNotFound},
	{nats.ErrKeyNotFound, etKeyNotFound},
	{jetstream.ErrKeyDeleted, etKeyDeleted},
	{nats.ErrKeyDeleted, etKeyDeleted},
	{jetstream.ErrNoKeysFound, etNoKeysFound},
	{nats.ErrNoKeysFound, etNoKeysFound},
	{jetstream.ErrKeyRevisionMismatch, etKeyRevisionMismatch},
	{jetstream.ErrBucketNotFound, etBucketNotFound},
	{nats.ErrBucketNotFound, etBucketNotFound},
	{jetstream.ErrNoMessages, etNoMessages},
	{jetstream.ErrNoHeartbeat, etNoHeartbeat},
	{jetstream.ErrMsgAlreadyAckd, etMsgAlreadyAcked},
	{nats.ErrMsgAlreadyAckd, etMsgAlreadyAcked},
	{jetstream.ErrMsgNotBound, etMsgNotBound},
	{jetstream.ErrMsgNoReply, etMsgNoReply},
	{jetstream.ErrConsumerDeleted, etConsumerDeleted},
	{jetstream.ErrJetStreamPublisherClosed, etPublisherClosed},
	{jetstream.ErrTooManyStalledMsgs, etTooManyStalledMsgs},
	{jetstream.ErrServerShutdown, etServerShutdown},
}

// genericTypes are error types whose name says nothing; ErrorType looks
// past them (into what they wrap) and, when nothing else is found, records
// ErrorTypeOther.
var genericTypes = map[string]bool{
	"*errors.errorString": true,
	"*errors.joinError":   true,
	"*fmt.wrapError":      true,
	"*fmt.wrapErrors":     true,
}

// CircuitRejection is implemented by the error a circuit breaker or gate
// returns for a call it refused (circuit.OpenError): circuit imports this
// package, so ErrorType recognises the rejection by this method instead of
// by type.
type CircuitRejection interface {
	error
	CircuitRejection()
}

// ErrorType returns the error.type naq records for err, everywhere (spans
// and metrics of operations, connect attempts, Snapshot().LastError). The
// set of values is closed; the first rule that matches wins:
//
//  1. "circuit_open" ([ErrorTypeCircuitOpen]): a rejection by an open circuit
//     breaker (a *circuit.OpenError anywhere in the chain);
//  2. the JetStream API error code of a JetStream error in the chain, as a
//     decimal string ("10059");
//  3. a well-known name for nats.go, jetstream and context sentinels
//     ("timeout", "no_responders", "no_servers", "authorization", ...; the
//     namedErrors table of this file);
//  4. for network errors: "timeout" (a net.Error whose Timeout() is true),
//     "connection_refused" (ECONNREFUSED) or "dial_error" (another failed
//     dial, e.g. an unknown host);
//  5. the Go type name of the outermost error in the chain whose type says
//     something ("*scope.ConnectError", "*url.Error"), skipping the types of
//     errors.New, fmt.Errorf and errors.Join;
//  6. "_OTHER" ([ErrorTypeOther]).
//
// It never includes the error message, which may carry URLs or
// credentials. It returns "" for a nil err. It does not allocate for
// errors matched by rules 1, 3 and 4. Safe for concurrent use.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	if isCircuitOpen(err) {
		return ErrorTypeCircuitOpen
	}
	if code := apiErrorCode(err); code != 0 {
		return strconv.Itoa(code)
	}
	for _, n := range namedErrors {
		if errors.Is(err, n.err) {
			return n.name
		}
	}
	if name := netErrorType(err); name != "" {
		return name
	}
	if name := typeName(err); name != "" {
		return name
	}
	return ErrorTypeOther
}

// walk calls fn for err and every error it wraps, depth first, until fn
// returns true; it reports whether fn did. It does not allocate.
func walk(err error, fn func(error) bool) bool {
	for err != nil {
		if fn(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e, fn) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

func isCircuitOpen(err error) bool {
	return walk(err, func(e error) bool {
		_, ok := e.(CircuitRejection)
		return ok
	})
}

// apiErrorCode returns the JetStream API error code found in err's chain
// (jetstream or legacy nats.go JetStream errors), or 0.
func apiErrorCode(err error) int {
	code := 0
	walk(err, func(e error) bool {
		switch je := e.(type) {
		case jetstream.JetStreamError:
			if api := je.APIError(); api != nil && api.ErrorCode != 0 {
				code = int(api.ErrorCode)
				return true
			}
		case nats.JetStreamError:
			if api := je.APIError(); api != nil && api.ErrorCode != 0 {
				code = int(api.ErrorCode)
				return true
			}
		}
		return false
	})
	return code
}

// netErrorType names network failures of a dial or a socket.
func netErrorType(err error) string {
	name := ""
	walk(err, func(e error) bool {
		if ne, ok := e.(net.Error); ok && ne.Timeout() {
			name = ErrorTypeTimeout
			return true
		}
		if errno, ok := e.(syscall.Errno); ok && errno == syscall.ECONNREFUSED {
			name = etConnectionRefused
			return true
		}
		return false
	})
	if name != "" {
		return name
	}
	walk(err, func(e error) bool {
		if oe, ok := e.(*net.OpError); ok && oe.Op == "dial" {
			name = etDialError
			return true
		}
		return false
	})
	return name
}

// typeName returns the Go type name of the outermost error in the chain
// whose type is not generic, or "".
func typeName(err error) string {
	name := ""
	walk(err, func(e error) bool {
		if t := reflect.TypeOf(e).String(); !genericTypes[t] {
			name = t
			return true
		}
		return false
	})
	return name
}
