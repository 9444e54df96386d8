package circuit

import "github.com/naq-io/naq/internal/semconv"

// DefaultClassifier reports whether err is a failure of the NATS system a
// breaker made with [New] guards (true) or an outcome of a healthy system or
// of the caller (false). It uses naq's one error classification, the same
// that names error.type:
//
// Not failures: nil; expected misses (jetstream.ErrKeyNotFound,
// ErrKeyDeleted, ErrNoKeysFound, ErrMsgNotFound, ErrNoMessages and their
// legacy twins); caller mistakes and choices (the caller's own
// context.Canceled, invalid subjects, names, keys and payload sizes, 4xx
// JetStream API errors such as not found, already exists or wrong last
// sequence, authorization and permission errors).
//
// Failures: connection loss and dial errors (nats.ErrConnectionClosed,
// ErrNoServers, refused connections), timeouts (nats.ErrTimeout,
// context.DeadlineExceeded), no responders, JetStream API errors with a 5xx
// code (or none), and every error not listed above.
//
// The destination breakers of a [Gate] use the narrower
// [DestinationClassifier]. Pass a different function with [WithClassifier].
func DefaultClassifier(err error) bool {
	switch semconv.Classify(err) {
	case semconv.ClassNone, semconv.ClassMiss, semconv.ClassCaller:
		return false
	}
	return true
}
