package main

import "go.uber.org/goleak"

// natsGoLeaks are goroutines nats.go v1.55's jetstream ObjectStore can leave
// behind on its own; TestMain's leak check ignores exactly these (the demo
// puts and gets an object every second, TestDemoInProcess runs it in this
// process, chaos included):
//
//   - Put publishes its chunks through a temporary JetStream context whose
//     async-reply setup starts resetPendingAcksOnReconnect; on return,
//     cleanupReplySub sets the status channel that goroutine is about to
//     read to nil, and a goroutine scheduled late blocks on the nil channel
//     forever (instrument's TestMain ignores it for the same reason).
//   - Get subscribes to the object's chunks (an ordered consumer) and hands
//     each chunk to the caller through a net.Pipe, written by the
//     subscription handler. When creating that consumer fails after the
//     server already started delivering (the connection drops, or the
//     context ends, between the create request and its reply), Get returns
//     the error without closing the pipe, and the handler stays blocked on
//     its write. The demo's gets only run into it across a server restart
//     (--chaos): their context is not cancelled when the demo stops.
var natsGoLeaks = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
	goleak.IgnoreAnyFunction("github.com/nats-io/nats.go/jetstream.(*obs).Get.func2"),
}
