package instrument

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nats.go v1.55 jetstream: ObjectStore.Put publishes through a
		// temporary JetStream context whose async-reply setup starts this
		// goroutine and, on return, cleanupReplySub sets the status channel
		// it is about to read to nil; when the goroutine is scheduled late it
		// blocks on the nil channel forever. Not a goroutine of this package
		// (TestJetStreamObjectStoreManagement's PutString hits it under load).
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
		// The legacy API has the same race: the first PublishAsync starts
		// (*js).resetPendingAcksOnReconnect, and CleanupPublisher (called
		// by the legacy wrappers' tests after async publishes) sets
		// js.connStatusCh to nil before a late-scheduled goroutine reads
		// it, so it blocks on the nil channel forever.
		goleak.IgnoreTopFunction("github.com/nats-io/nats%2ego.(*js).resetPendingAcksOnReconnect"), // the last path element's dot is escaped in stack traces
	)
}
