package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Chaos events come in turn: a stall (the pricing service stops answering,
// so its requests time out and one destination breaker opens, probes, and
// closes once it answers again; at the same time the shipper consumer
// crawls, so its lag and pending grow, then drain), a quick restart
// (reconnect within a second) and a longer outage (calls that wait for a
// reply fail fast, then recover).
const (
	chaosStall       = 6 * time.Second
	chaosRestartDown = 500 * time.Millisecond
	chaosOutageDown  = 4 * time.Second
	// chaosCrawl is how long the stalled shipper takes per message: 4
	// messages/s, behind the JetStream publishers at the default --rate
	// (25/s).
	chaosCrawl = 250 * time.Millisecond
)

// shipperState links chaos to the shipper consumer (startJetStream): chaos
// stalls it, and its handler keeps what the last delivered message said
// (the consumer's pending count and how old the message was), for the chaos
// event lines. Safe for concurrent use.
type shipperState struct {
	stalled atomic.Bool
	pending atomic.Uint64
	lag     atomic.Int64 // time.Duration
}

// delivered notes the metadata of a message the shipper is handling.
func (s *shipperState) delivered(md *jetstream.MsgMetadata, now time.Time) {
	s.pending.Store(md.NumPending)
	s.lag.Store(int64(now.Sub(md.Timestamp)))
}

// runChaos injects a fault `every` after the previous one ended: a stall of
// the pricing service and of the shipper consumer, a quick restart of the
// embedded server, a longer outage, and again. The server is always running,
// the service answering and the shipper at full speed again when it
// returns, so the final drain can complete.
func (d *demo) runChaos(ctx context.Context, every time.Duration) {
	defer func() {
		d.pricingStalled.Store(false)
		d.shipper.stalled.Store(false)
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
			d.event("chaos: stall: consumer %s handles one message per %v for %v while publishing goes on", pushConsumer, chaosCrawl, chaosStall)
			d.pricingStalled.Store(true)
			d.shipper.stalled.Store(true)
			select {
			case <-ctx.Done():
			case <-time.After(chaosStall):
			}
			d.pricingStalled.Store(false)
			d.shipper.stalled.Store(false)
			d.event("chaos: the pricing service answers again")
			d.event("chaos: consumer %s at full speed again, %d messages pending, the last one %v old: catching up",
				pushConsumer, d.shipper.pending.Load(), time.Duration(d.shipper.lag.Load()).Round(100*time.Millisecond))
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
