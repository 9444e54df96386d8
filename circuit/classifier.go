package circuit

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultClassifier reports whether err is a failure of the NATS system the
// breaker guards (true) or an expected outcome of a healthy system (false).
//
// Not failures: nil; the caller's own context.Canceled; expected misses and
// conflicts (jetstream.ErrKeyNotFound, ErrKeyDeleted, ErrKeyExists,
// ErrMsgNotFound, ErrNoKeysFound, stream/consumer/bucket not found, and any
// JetStream API error with code 10071 or 10164, "wrong last sequence");
// other JetStream API errors with a 4xx code; and caller mistakes such as
// nats.ErrBadSubject or nats.ErrMaxPayload.
//
// Failures: connection loss and timeouts (nats.ErrConnectionClosed,
// ErrConnectionDraining, ErrNoServers, ErrTimeout, ErrNoResponders,
// context.DeadlineExceeded, jetstream.ErrNoStreamResponse), JetStream API
// errors with a 5xx code (or none), and every error not listed above.
//
// Pass a different function with [WithClassifier].
func DefaultClassifier(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	for _, e := range expected {
		if errors.Is(err, e) {
			return false
		}
	}
	for _, e := range failures {
		if errors.Is(err, e) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return false
		}
		return apiErr.Code <= 0 || apiErr.Code >= 500
	}
	var legacyErr *nats.APIError
	if errors.As(err, &legacyErr) {
		switch legacyErr.ErrorCode {
		case nats.JSErrCodeStreamWrongLastSequence, nats.JSErrCodeStreamWrongLastSequenceConstant:
			return false
		}
		return legacyErr.Code <= 0 || legacyErr.Code >= 500
	}
	return true
}

// expected are outcomes of a healthy system: checked before failures.
var expected = []error{
	jetstream.ErrKeyNotFound,
	jetstream.ErrKeyDeleted,
	jetstream.ErrKeyExists,
	jetstream.ErrMsgNotFound,
	jetstream.ErrNoKeysFound,
	jetstream.ErrStreamNotFound,
	jetstream.ErrConsumerNotFound,
	jetstream.ErrBucketNotFound,
	jetstream.ErrConsumerExists,
	jetstream.ErrStreamNameAlreadyInUse,
	jetstream.ErrMsgIteratorClosed,
	nats.ErrKeyNotFound,
	nats.ErrKeyDeleted,
	nats.ErrKeyExists,
	nats.ErrMsgNotFound,
	nats.ErrNoKeysFound,
	nats.ErrStreamNotFound,
	nats.ErrConsumerNotFound,
	nats.ErrBadSubject,
	nats.ErrMaxPayload,
	nats.ErrBadSubscription,
	nats.ErrInvalidMsg,
	nats.ErrMsgAlreadyAckd,
	nats.ErrInvalidContext,
}

// failures are errors of an unhealthy or unreachable system.
var failures = []error{
	context.DeadlineExceeded,
	nats.ErrConnectionClosed,
	nats.ErrConnectionDraining,
	nats.ErrNoServers,
	nats.ErrTimeout,
	nats.ErrNoResponders,
	nats.ErrDisconnected,
	nats.ErrStaleConnection,
	jetstream.ErrNoStreamResponse,
	nats.ErrNoStreamResponse,
	jetstream.ErrJetStreamNotEnabled,
}
