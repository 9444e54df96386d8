package instrument

import (
	"errors"

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

// errorType returns the error.type of a failed call: the one naq
// vocabulary, semconv.ErrorType (also exported as metrics.ErrorType).
func errorType(err error) string { return semconv.ErrorType(err) }
