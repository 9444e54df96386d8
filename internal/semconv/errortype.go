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

// Well-known error.type values. Together with JetStream API error codes
// ("10059"), Go type names of errors ("*scope.ConnectError") and
// [ErrorTypeOther] they are the whole error.type vocabulary of naq; see
// [ErrorType].
const (
	ErrorTypeCanceled                 = "canceled"
	ErrorTypeNoResponders             = "no_responders"
	ErrorTypeNoServers                = "no_servers"
	ErrorTypeConnectionRefused        = "connection_refused"
	ErrorTypeDialError                = "dial_error"
	ErrorTypeConnectionClosed         = "connection_closed"
	ErrorTypeConnectionDraining       = "connection_draining"
	ErrorTypeConnectionReconnecting   = "connection_reconnecting"
	ErrorTypeStaleConnection          = "stale_connection"
	ErrorTypeMaxConnectionsExceeded   = "max_connections_exceeded"
	ErrorTypeSecureConnectionRequired = "secure_connection_required"
	ErrorTypeSecureConnectionWanted   = "secure_connection_wanted"
	ErrorTypeAuthorization            = "authorization"
	ErrorTypeAuthExpired              = "auth_expired"
	ErrorTypeAuthRevoked              = "auth_revoked"
	ErrorTypeAccountAuthExpired       = "account_auth_expired"
	ErrorTypePermissionsViolation     = "permissions_violation"
	ErrorTypeSlowConsumer             = "slow_consumer"
	ErrorTypeBadSubject               = "bad_subject"
	ErrorTypeInvalidMsg               = "invalid_msg"
	ErrorTypeMaxPayload               = "max_payload"
	ErrorTypeBadSubscription          = "bad_subscription"
	ErrorTypeInvalidContext           = "invalid_context"
	ErrorTypeNoDeadline               = "no_deadline"
	ErrorTypeKeyNotFound              = "key_not_found"
	ErrorTypeKeyDeleted               = "key_deleted"
	ErrorTypeNoKeysFound              = "no_keys_found"
	ErrorTypeKeyRevisionMismatch      = "key_revision_mismatch"
	ErrorTypeBucketNotFound           = "bucket_not_found"
	ErrorTypeNoMessages               = "no_messages"
	ErrorTypeNoHeartbeat              = "no_heartbeat"
	ErrorTypeMsgAlreadyAcked          = "msg_already_acked"
	ErrorTypeMsgNotBound              = "msg_not_bound"
	ErrorTypeMsgNoReply               = "msg_no_reply"
	ErrorTypeConsumerDeleted          = "consumer_deleted"
	ErrorTypePublisherClosed          = "publisher_closed"
	ErrorTypeTooManyStalledMsgs       = "too_many_stalled_msgs"
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
	{context.Canceled, ErrorTypeCanceled},
	{nats.ErrNoResponders, ErrorTypeNoResponders},
	{jetstream.ErrNoStreamResponse, ErrorTypeNoResponders},
	{nats.ErrNoServers, ErrorTypeNoServers},
	{nats.ErrConnectionClosed, ErrorTypeConnectionClosed},
	{jetstream.ErrConnectionClosed, ErrorTypeConnectionClosed},
	{nats.ErrConnectionDraining, ErrorTypeConnectionDraining},
	{nats.ErrConnectionReconnecting, ErrorTypeConnectionReconnecting},
	{nats.ErrStaleConnection, ErrorTypeStaleConnection},
	{nats.ErrMaxConnectionsExceeded, ErrorTypeMaxConnectionsExceeded},
	{nats.ErrSecureConnRequired, ErrorTypeSecureConnectionRequired},
	{nats.ErrSecureConnWanted, ErrorTypeSecureConnectionWanted},
	{nats.ErrAuthorization, ErrorTypeAuthorization},
	{nats.ErrAuthExpired, ErrorTypeAuthExpired},
	{nats.ErrAuthRevoked, ErrorTypeAuthRevoked},
	{nats.ErrAccountAuthExpired, ErrorTypeAccountAuthExpired},
	{nats.ErrPermissionViolation, ErrorTypePermissionsViolation},
	{nats.ErrSlowConsumer, ErrorTypeSlowConsumer},
	{nats.ErrBadSubject, ErrorTypeBadSubject},
	{jetstream.ErrInvalidSubject, ErrorTypeBadSubject},
	{nats.ErrInvalidMsg, ErrorTypeInvalidMsg},
	{nats.ErrMaxPayload, ErrorTypeMaxPayload},
	{nats.ErrBadSubscription, ErrorTypeBadSubscription},
	{nats.ErrInvalidContext, ErrorTypeInvalidContext},
	{nats.ErrNoDeadlineContext, ErrorTypeNoDeadline},
	{jetstream.ErrKeyNotFound, ErrorTypeKeyNotFound},
	{nats.ErrKeyNotFound, ErrorTypeKeyNotFound},
	{jetstream.ErrKeyDeleted, ErrorTypeKeyDeleted},
	{nats.ErrKeyDeleted, ErrorTypeKeyDeleted},
	{jetstream.ErrNoKeysFound, ErrorTypeNoKeysFound},
	{nats.ErrNoKeysFound, ErrorTypeNoKeysFound},
	{jetstream.ErrKeyRevisionMismatch, ErrorTypeKeyRevisionMismatch},
	{jetstream.ErrBucketNotFound, ErrorTypeBucketNotFound},
	{nats.ErrBucketNotFound, ErrorTypeBucketNotFound},
	{jetstream.ErrNoMessages, ErrorTypeNoMessages},
	{jetstream.ErrNoHeartbeat, ErrorTypeNoHeartbeat},
	{jetstream.ErrMsgAlreadyAckd, ErrorTypeMsgAlreadyAcked},
	{nats.ErrMsgAlreadyAckd, ErrorTypeMsgAlreadyAcked},
	{jetstream.ErrMsgNotBound, ErrorTypeMsgNotBound},
	{jetstream.ErrMsgNoReply, ErrorTypeMsgNoReply},
	{jetstream.ErrConsumerDeleted, ErrorTypeConsumerDeleted},
	{jetstream.ErrJetStreamPublisherClosed, ErrorTypePublisherClosed},
	{jetstream.ErrTooManyStalledMsgs, ErrorTypeTooManyStalledMsgs},
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

// circuitPkg is the import path of naq's circuit package: an error of its
// OpenError type is a breaker rejection. circuit imports this package, so
// the type is recognised by reflection instead of errors.Is(err,
// circuit.ErrOpen); a test in this package's external tests guards it.
const circuitPkg = "github.com/naq-io/naq/circuit"

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
//     ErrorType* constants of this package);
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
		t := reflect.TypeOf(e)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		return t.Name() == "OpenError" && t.PkgPath() == circuitPkg
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
			name = ErrorTypeConnectionRefused
			return true
		}
		return false
	})
	if name != "" {
		return name
	}
	walk(err, func(e error) bool {
		if oe, ok := e.(*net.OpError); ok && oe.Op == "dial" {
			name = ErrorTypeDialError
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
