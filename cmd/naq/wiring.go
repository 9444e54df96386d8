package main

import (
	"context"

	"github.com/naq-io/naq/scope"
)

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
