package main

import (
	"context"
	"time"
)

// Chaos events come in turn: the pricing service stalls (its requests time
// out: one destination breaker opens, probes, and closes once it answers
// again), a quick restart (reconnect within a second) and a longer outage
// (calls that wait for a reply fail fast, then recover).
const (
	chaosStall       = 6 * time.Second
	chaosRestartDown = 500 * time.Millisecond
	chaosOutageDown  = 4 * time.Second
)

// runChaos injects a fault `every` after the previous one ended: a stall of
// the pricing service, a quick restart of the embedded server, a longer
// outage, and again. The server is always running and the service answering
// again when it returns, so the final drain can complete.
func (d *demo) runChaos(ctx context.Context, every time.Duration) {
	defer func() {
		d.pricingStalled.Store(false)
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
		if n%3 == 0 {
			d.event("chaos: stall: the pricing service stops answering for %v", chaosStall)
			d.pricingStalled.Store(true)
			select {
			case <-ctx.Done():
			case <-time.After(chaosStall):
			}
			d.pricingStalled.Store(false)
			d.event("chaos: the pricing service answers again")
			continue
		}
		down, kind := chaosRestartDown, "restart"
		if n%3 == 2 {
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
