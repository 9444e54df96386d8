package instrument

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/internal/semconv"
)

// DefaultErrorClassifier is the default [ErrorClassifier]. It treats the
// expected misses of KeyValue and stream reads as successes:
// jetstream.ErrKeyNotFound, jetstream.ErrKeyDeleted, jetstream.ErrNoKeysFound,
// jetstream.ErrMsgNotFound, jetstream.ErrNoMessages and their legacy nats.go
// equivalents. Every other non-nil error is a failure.
func DefaultErrorClassifier(err error) bool {
	if err == nil {
		return false
	}
	for _, miss := range expectedMisses {
		if errors.Is(err, miss) {
			return false
		}
	}
	return true
}

var expectedMisses = []error{
	jetstream.ErrKeyNotFound,
	jetstream.ErrKeyDeleted,
	jetstream.ErrNoKeysFound,
	jetstream.ErrMsgNotFound,
	jetstream.ErrNoMessages,
	nats.ErrKeyNotFound,
	nats.ErrKeyDeleted,
	nats.ErrNoKeysFound,
	nats.ErrMsgNotFound,
}

// namedErrors maps well-known sentinels to their error.type. The set is
// closed: these names, JetStream error codes, "circuit_open", Go type names
// of custom errors and "_OTHER".
var namedErrors = []struct {
	err  error
	name string
}{
	{context.DeadlineExceeded, semconv.ErrorTypeTimeout},
	{nats.ErrTimeout, semconv.ErrorTypeTimeout},
	{jetstream.ErrAsyncPublishTimeout, semconv.ErrorTypeTimeout},
	{context.Canceled, "canceled"},
	{nats.ErrNoResponders, "no_responders"},
	{jetstream.ErrNoStreamResponse, "no_responders"},
	{nats.ErrConnectionClosed, "connection_closed"},
	{jetstream.ErrConnectionClosed, "connection_closed"},
	{nats.ErrConnectionDraining, "connection_draining"},
	{nats.ErrConnectionReconnecting, "connection_reconnecting"},
	{nats.ErrBadSubject, "bad_subject"},
	{nats.ErrInvalidMsg, "invalid_msg"},
	{nats.ErrMaxPayload, "max_payload"},
	{nats.ErrBadSubscription, "bad_subscription"},
	{nats.ErrSlowConsumer, "slow_consumer"},
	{nats.ErrAuthorization, "authorization_violation"},
	{nats.ErrPermissionViolation, "permissions_violation"},
	{nats.ErrInvalidContext, "invalid_context"},
	{nats.ErrNoDeadlineContext, "no_deadline"},
	{jetstream.ErrKeyNotFound, "key_not_found"},
	{jetstream.ErrKeyDeleted, "key_deleted"},
	{jetstream.ErrNoKeysFound, "no_keys_found"},
	{jetstream.ErrKeyRevisionMismatch, "key_revision_mismatch"},
	{jetstream.ErrBucketNotFound, "bucket_not_found"},
	{jetstream.ErrNoMessages, "no_messages"},
	{jetstream.ErrNoHeartbeat, "no_heartbeat"},
	{jetstream.ErrMsgAlreadyAckd, "msg_already_acked"},
	{jetstream.ErrMsgNotBound, "msg_not_bound"},
	{jetstream.ErrMsgNoReply, "msg_no_reply"},
	{jetstream.ErrConsumerDeleted, "consumer_deleted"},
	{jetstream.ErrInvalidSubject, "bad_subject"},
	{jetstream.ErrJetStreamPublisherClosed, "publisher_closed"},
	{jetstream.ErrTooManyStalledMsgs, "too_many_stalled_msgs"},
}

// genericTypes are error types whose name says nothing; they map to
// semconv.ErrorTypeOther.
var genericTypes = map[string]bool{
	"*errors.errorString": true,
	"*errors.joinError":   true,
	"*fmt.wrapError":      true,
	"*fmt.wrapErrors":     true,
}

// errorType returns the error.type of a failed call, from a closed set: a
// JetStream API error code ("10059"), else a well-known sentinel name
// ("timeout", "no_responders", "connection_closed", ...), else the Go type
// name of the error, else "_OTHER". It never includes the error message.
func errorType(err error) string {
	if err == nil {
		return ""
	}
	if code := apiErrorCode(err); code != 0 {
		return strconv.Itoa(code)
	}
	for _, n := range namedErrors {
		if errors.Is(err, n.err) {
			return n.name
		}
	}
	t := fmt.Sprintf("%T", err)
	if genericTypes[t] {
		return semconv.ErrorTypeOther
	}
	return t
}

// apiErrorCode returns the JetStream API error code found in err's chain
// (jetstream or legacy nats.go JetStream errors), or 0. It walks the chain by
// hand so that the error path does not allocate as errors.As would.
func apiErrorCode(err error) int {
	for err != nil {
		switch e := err.(type) {
		case jetstream.JetStreamError:
			if api := e.APIError(); api != nil && api.ErrorCode != 0 {
				return int(api.ErrorCode)
			}
		case nats.JetStreamError:
			if api := e.APIError(); api != nil && api.ErrorCode != 0 {
				return int(api.ErrorCode)
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if code := apiErrorCode(e); code != 0 {
					return code
				}
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}
