package tracing_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the HopCollector's
// subscription (nats.go's delivery goroutine) and its context watcher stop on
// Close or when its context ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
