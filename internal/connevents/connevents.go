// Package connevents chains naq's listeners in front of the event handlers
// of a *nats.Conn, so that the user's handlers keep running. The metrics
// Observer and the circuit Gate both listen this way.
package connevents

import "github.com/nats-io/nats.go"

// Handlers are the listeners to chain; nil ones are not installed. nats.go
// runs connection handlers on its callback goroutine, not under the
// connection's lock, but a listener must still never block: it runs before
// the user's handler and every later event.
type Handlers struct {
	// Disconnected is called when the connection is lost, not when it is
	// closed deliberately (nats.go then reports a nil error on a closed
	// connection).
	Disconnected func(nc *nats.Conn, err error)
	Reconnected  func(nc *nats.Conn)
	Closed       func(nc *nats.Conn)
	AsyncError   func(nc *nats.Conn, sub *nats.Subscription, err error)
	Discovered   func(nc *nats.Conn)
}

// Chain installs h in front of the handlers set on nc now; the previous
// handlers run after h's, with the same arguments. Handlers set on nc later
// (nc.SetClosedHandler, ...) replace the chain. Chain must not run
// concurrently with another Chain on the same connection.
func Chain(nc *nats.Conn, h Handlers) {
	if h.Disconnected != nil {
		prev, prevOld := nc.DisconnectErrHandler(), nc.Opts.DisconnectedCB
		nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil || !c.IsClosed() {
				h.Disconnected(c, err)
			}
			if prev != nil {
				prev(c, err)
			} else if prevOld != nil {
				prevOld(c)
			}
		})
	}
	if h.Reconnected != nil {
		prev := nc.ReconnectHandler()
		nc.SetReconnectHandler(func(c *nats.Conn) {
			h.Reconnected(c)
			if prev != nil {
				prev(c)
			}
		})
	}
	if h.AsyncError != nil {
		prev := nc.ErrorHandler()
		nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
			h.AsyncError(c, s, err)
			if prev != nil {
				prev(c, s, err)
			}
		})
	}
	if h.Discovered != nil {
		prev := nc.DiscoveredServersHandler()
		nc.SetDiscoveredServersHandler(func(c *nats.Conn) {
			h.Discovered(c)
			if prev != nil {
				prev(c)
			}
		})
	}
	if h.Closed != nil {
		prev := nc.ClosedHandler()
		nc.SetClosedHandler(func(c *nats.Conn) {
			h.Closed(c)
			if prev != nil {
				prev(c)
			}
		})
	}
}
