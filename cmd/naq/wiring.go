package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/scope"
)

// wrapJetStream returns the instrumented JetStream handle.
// TODO(instrument): use instrument.NewJetStream once it lands.
func wrapJetStream(js jetstream.JetStream, _ []instrument.Option) jetstream.JetStream {
	return js
}

// wrapKeyValue returns the instrumented KeyValue handle.
// TODO(instrument): use instrument.NewKeyValue once it lands.
func wrapKeyValue(kv jetstream.KeyValue, _ []instrument.Option) jetstream.KeyValue {
	return kv
}

// dialObserver feeds the pool's connect attempts (timed by the pool's one
// dial path) into the metrics recorder: nats.client.connect.duration and
// nats.client.connections.opened / .failed.
func (d *demo) dialObserver() func(scope.DialEvent) {
	return func(ev scope.DialEvent) {
		if d.recorder != nil {
			d.recorder.RecordDial(context.Background(), "naq-demo", ev.Duration, ev.Err)
		}
	}
}
