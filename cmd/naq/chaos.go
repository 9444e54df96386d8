package main

import (
	"context"
	"time"
)

// Chaos events alternate: a quick restart (reconnect within a second) and a
// longer outage (calls that wait for a reply fail fast, then recover).
const (
	chaosRestartDown = 500 * time.Millisecond
	chaosOutageDown  = 4 * time.Second
)

// runChaos stops the embedded server `every` after the previous event, alternating a quick
// restart and a longer outage. The server is always running again when it
// returns, so the final drain can complete.
func (d *demo) runChaos(ctx context.Context, every time.Duration) {
	defer func() {
		if !d.server.Running() {
			if err := d.server.Start(); err != nil {
				d.event("chaos: restart failed: %v", err)
			}
		}
	}()
	for n := 0; ; n++ {
		// The next event comes `every` after the previous one ended.
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		down, kind := chaosRestartDown, "restart"
		if n%2 == 1 {
			down, kind = chaosOutageDown, "outage"
		}
		d.event("chaos: %s: stopping the server for %v", kind, down)
		d.server.Stop()
		select {
		case <-ctx.Done():
		case <-time.After(down):
		}
		if err := d.server.Start(); err != nil {
			d.event("chaos: server did not come back: %v", err)
			return
		}
		d.event("chaos: server back on %s", d.server.URL())
	}
}
