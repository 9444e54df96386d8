package semconv

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Class is what an error says about the system that returned it. It is the
// one classification naq shares between span status (instrument's default
// ErrorClassifier: everything but [ClassMiss] is an error), the gate's
// destination breakers (only [ClassTimeout], [ClassServer] and [ClassPanic]
// count) and the dial breaker (everything but [ClassMiss] and [ClassCaller]
// counts).
type Class uint8

// The classes, from the most benign to the least known.
const (
	// ClassNone is the class of a nil error.
	ClassNone Class = iota
	// ClassMiss is an expected answer of a healthy system: a key, message
	// or object that does not exist, no keys, no messages (yet).
	ClassMiss
	// ClassCaller is the caller's own mistake or choice: an invalid
	// subject, name, key or payload size, a 4xx JetStream API error (not
	// found, already exists, wrong last sequence), the caller's own
	// cancellation, an authorization or permission failure, a settle of a
	// message already settled.
	ClassCaller
	// ClassNoResponders is the server's immediate answer that nobody
	// listens on the subject (a request, or a JetStream publish that no
	// stream captures or whose stream has no leader right now).
	ClassNoResponders
	// ClassConnection is a connection that is closed, draining,
	// reconnecting or stale, or a dial that failed (no servers, refused).
	ClassConnection
	// ClassTimeout is a call that waited for its deadline: the caller's
	// context deadline, nats.go's timeout, a missed JetStream heartbeat.
	ClassTimeout
	// ClassServer is the server reporting a failure of its own: a JetStream
	// API error with a 5xx code (or none), JetStream not enabled, a server
	// shutting down.
	ClassServer
	// ClassPanic is a call that panicked ([ErrPanicked]): whatever it
	// guarded did not complete, so every breaker counts it as a failure.
	ClassPanic
	// ClassOther is every other error.
	ClassOther
)

var classNames = [...]string{"none", "miss", "caller", "no_responders", "connection", "timeout", "server", "panic", "other"}

// ErrPanicked is wrapped by the outcome a breaker is given for a call that
// panicked (the panic itself goes on unwinding).
var ErrPanicked = errors.New("call panicked")

// String returns the class name ("miss", "caller", ...).
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "other"
}

// classified are sentinels whose class is fixed, checked in order before
// the JetStream API code; first match wins.
var classified = []struct {
	err   error
	class Class
}{
	{ErrPanicked, ClassPanic},
	{context.Canceled, ClassCaller},
	{context.DeadlineExceeded, ClassTimeout},
	{nats.ErrTimeout, ClassTimeout},
	{os.ErrDeadlineExceeded, ClassTimeout},
	{jetstream.ErrAsyncPublishTimeout, ClassTimeout},
	{jetstream.ErrNoHeartbeat, ClassTimeout},

	{jetstream.ErrKeyNotFound, ClassMiss},
	{jetstream.ErrKeyDeleted, ClassMiss},
	{jetstream.ErrNoKeysFound, ClassMiss},
	{jetstream.ErrMsgNotFound, ClassMiss},
	{jetstream.ErrNoMessages, ClassMiss},
	{jetstream.ErrObjectNotFound, ClassMiss},
	{jetstream.ErrNoObjectsFound, ClassMiss},
	{nats.ErrKeyNotFound, ClassMiss},
	{nats.ErrKeyDeleted, ClassMiss},
	{nats.ErrNoKeysFound, ClassMiss},
	{nats.ErrMsgNotFound, ClassMiss},
	{nats.ErrObjectNotFound, ClassMiss},
	{nats.ErrNoObjectsFound, ClassMiss},

	{nats.ErrNoResponders, ClassNoResponders},
	{jetstream.ErrNoStreamResponse, ClassNoResponders},
	{nats.ErrNoStreamResponse, ClassNoResponders},

	{nats.ErrConnectionClosed, ClassConnection},
	{jetstream.ErrConnectionClosed, ClassConnection},
	{nats.ErrConnectionDraining, ClassConnection},
	{nats.ErrConnectionReconnecting, ClassConnection},
	{nats.ErrDisconnected, ClassConnection},
	{nats.ErrStaleConnection, ClassConnection},
	{nats.ErrNoServers, ClassConnection},
	{nats.ErrMaxConnectionsExceeded, ClassConnection},
	{nats.ErrInvalidConnection, ClassCaller},

	{jetstream.ErrServerShutdown, ClassServer},
	{jetstream.ErrJetStreamNotEnabled, ClassServer},
	{jetstream.ErrJetStreamNotEnabledForAccount, ClassServer},
	{nats.ErrJetStreamNotEnabled, ClassServer},
	{nats.ErrJetStreamNotEnabledForAccount, ClassServer},

	{nats.ErrBadSubject, ClassCaller},
	{jetstream.ErrInvalidSubject, ClassCaller},
	{nats.ErrMaxPayload, ClassCaller},
	{nats.ErrHeadersNotSupported, ClassCaller},
	{nats.ErrBadHeaderMsg, ClassCaller},
	{nats.ErrInvalidMsg, ClassCaller},
	{nats.ErrBadSubscription, ClassCaller},
	{nats.ErrTypeSubscription, ClassCaller},
	{nats.ErrInvalidContext, ClassCaller},
	{nats.ErrNoDeadlineContext, ClassCaller},
	{nats.ErrAuthorization, ClassCaller},
	{nats.ErrAuthExpired, ClassCaller},
	{nats.ErrAuthRevoked, ClassCaller},
	{nats.ErrAccountAuthExpired, ClassCaller},
	{nats.ErrPermissionViolation, ClassCaller},
	{nats.ErrSecureConnRequired, ClassCaller},
	{nats.ErrSecureConnWanted, ClassCaller},
	{jetstream.ErrMsgAlreadyAckd, ClassCaller},
	{nats.ErrMsgAlreadyAckd, ClassCaller},
	{jetstream.ErrMsgNotBound, ClassCaller},
	{jetstream.ErrMsgNoReply, ClassCaller},
	{jetstream.ErrNotJSMessage, ClassCaller},
	{jetstream.ErrKeyExists, ClassCaller},
	{nats.ErrKeyExists, ClassCaller},
	{jetstream.ErrKeyRevisionMismatch, ClassCaller},
	{jetstream.ErrBucketNotFound, ClassCaller},
	{nats.ErrBucketNotFound, ClassCaller},
	{jetstream.ErrBucketExists, ClassCaller},
	{jetstream.ErrInvalidKey, ClassCaller},
	{nats.ErrInvalidKey, ClassCaller},
	{jetstream.ErrInvalidBucketName, ClassCaller},
	{nats.ErrInvalidBucketName, ClassCaller},
	{jetstream.ErrInvalidStreamName, ClassCaller},
	{nats.ErrInvalidStreamName, ClassCaller},
	{jetstream.ErrStreamNameRequired, ClassCaller},
	{nats.ErrStreamNameRequired, ClassCaller},
	{jetstream.ErrInvalidConsumerName, ClassCaller},
	{nats.ErrInvalidConsumerName, ClassCaller},
	{jetstream.ErrInvalidStoreName, ClassCaller},
	{jetstream.ErrInvalidOption, ClassCaller},
	{jetstream.ErrHandlerRequired, ClassCaller},
	{jetstream.ErrHistoryTooLarge, ClassCaller},
	{jetstream.ErrMaxBytesExceeded, ClassCaller},
	{jetstream.ErrAsyncPublishReplySubjectSet, ClassCaller},
	{jetstream.ErrMsgIteratorClosed, ClassCaller},
	{jetstream.ErrJetStreamPublisherClosed, ClassCaller},
	{jetstream.ErrConsumerAlreadyConsuming, ClassCaller},
	{jetstream.ErrTooManyStalledMsgs, ClassCaller},
}

// Classify returns the [Class] of err, the first rule that matches:
//
//  1. nil: [ClassNone];
//  2. a sentinel of nats.go, jetstream or context with a fixed class
//     (context.Canceled is [ClassCaller], context.DeadlineExceeded
//     [ClassTimeout], jetstream.ErrKeyNotFound [ClassMiss], ...);
//  3. a JetStream API error in the chain: 4xx codes are [ClassCaller],
//     5xx codes or none [ClassServer];
//  4. network errors: a timeout is [ClassTimeout], a refused or failed dial
//     [ClassConnection];
//  5. [ClassOther].
//
// It does not allocate for sentinels and network errors. Safe for
// concurrent use.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	for _, c := range classified {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	if code, ok := apiStatus(err); ok {
		if code >= 400 && code < 500 {
			return ClassCaller
		}
		return ClassServer
	}
	switch netErrorType(err) {
	case ErrorTypeTimeout:
		return ClassTimeout
	case etConnectionRefused, etDialError:
		return ClassConnection
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ClassConnection
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ClassConnection
	}
	return ClassOther
}

// apiStatus returns the HTTP-like status code of the JetStream API error in
// err's chain (jetstream or legacy nats.go), and whether there is one.
func apiStatus(err error) (int, bool) {
	code, found := 0, false
	walk(err, func(e error) bool {
		switch je := e.(type) {
		case jetstream.JetStreamError:
			if api := je.APIError(); api != nil {
				code, found = api.Code, true
				return true
			}
		case nats.JetStreamError:
			if api := je.APIError(); api != nil {
				code, found = api.Code, true
				return true
			}
		}
		return false
	})
	return code, found
}
