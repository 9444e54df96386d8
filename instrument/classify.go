package instrument

import "github.com/naq-io/naq/internal/semconv"

// DefaultErrorClassifier is the default [ErrorClassifier]. It treats the
// expected misses of a healthy system as successes and every other error as
// a failure, by naq's one error classification (the same that decides
// error.type and what the gate's breakers count): jetstream.ErrKeyNotFound,
// ErrKeyDeleted, ErrNoKeysFound, ErrMsgNotFound, ErrNoMessages,
// ErrObjectNotFound, ErrNoObjectsFound and their legacy nats.go
// equivalents.
func DefaultErrorClassifier(err error) bool {
	switch semconv.Classify(err) {
	case semconv.ClassNone, semconv.ClassMiss:
		return false
	}
	return true
}

// errorType returns the error.type of a failed call: the one naq
// vocabulary, semconv.ErrorType (also exported as metrics.ErrorType).
func errorType(err error) string { return semconv.ErrorType(err) }
