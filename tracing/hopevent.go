package tracing

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// The trace events of nats-server message tracing (ADR-41, nats-server
// 2.11+). A message that carries a [TraceDestHeader] header (or, when its
// account configures msg_trace, a sampled W3C traceparent) makes every
// server it crosses publish one JSON event to the trace destination: which
// server, the traced message's headers, and the hops the message made on
// that server, each with the server's timestamp. These types mirror that
// JSON; naq does not import nats-server.

// TraceDestHeader is the message header that asks nats-server (2.11+) to
// trace the message: every server it crosses publishes a hopEvent to the
// subject in the header's value, and still delivers the message as usual.
// The server rewrites the header to "trace disabled" on the copy it stores
// in a stream, so the delivery of a stored message is not traced again.
const TraceDestHeader = "Nats-Trace-Dest"

// traceHopHeader is the header a server sets on a traced message it
// forwards to a route, gateway or leaf node: the hop id ("1", "1.2") the
// next server's event carries in its request headers.
const traceHopHeader = "Nats-Trace-Hop"

// hopType is the type of one hop of a hopEvent, as nats-server writes it.
type hopType string

// The hop types of nats-server 2.11 to 2.15.
const (
	hopTypeIngress        hopType = "in" // the server received the message
	hopTypeSubjectMapping hopType = "sm" // a subject mapping rewrote its subject
	hopTypeStreamExport   hopType = "se" // a stream export delivered it to another account
	hopTypeServiceImport  hopType = "si" // a service import sent it to another account
	hopTypeJetStream      hopType = "js" // a stream took it for storage
	hopTypeEgress         hopType = "eg" // the server sent it to a subscription, route, gateway or leaf node
)

// hopConnKind is the kind of connection a hop came in on or went out to,
// numbered as nats-server numbers them.
type hopConnKind int

// Connection kinds.
const (
	hopConnClient    hopConnKind = 0
	hopConnRouter    hopConnKind = 1
	hopConnGateway   hopConnKind = 2
	hopConnSystem    hopConnKind = 3
	hopConnLeaf      hopConnKind = 4
	hopConnJetStream hopConnKind = 5
	hopConnAccount   hopConnKind = 6
)

// String returns "client", "router", "gateway", "system", "leaf",
// "jetstream", "account", or "unknown".
func (k hopConnKind) String() string {
	switch k {
	case hopConnClient:
		return "client"
	case hopConnRouter:
		return "router"
	case hopConnGateway:
		return "gateway"
	case hopConnSystem:
		return "system"
	case hopConnLeaf:
		return "leaf"
	case hopConnJetStream:
		return "jetstream"
	case hopConnAccount:
		return "account"
	}
	return "unknown"
}

// hopEvent is one server's trace event for one traced message.
type hopEvent struct {
	// Server is the server that sent the event.
	Server hopServer `json:"server"`
	// Request is what the server saw of the traced message.
	Request hopRequest `json:"request"`
	// Forwards is how many routes, gateways and leaf nodes the server
	// forwarded the message to; each sends an event of its own.
	Forwards int `json:"hops,omitempty"`
	// Hops are the server's steps with the message, in the order the
	// server recorded them; the first is the ingress.
	Hops []eventHop `json:"events"`
}

// hopServer identifies the server that sent a hopEvent.
type hopServer struct {
	// Name is the server's name (its id when it has no configured name).
	Name string `json:"name"`
	// ID is the server's public id.
	ID string `json:"id"`
	// Cluster is the server's cluster name; "" when not clustered.
	Cluster string `json:"cluster,omitempty"`
	// Domain is the server's JetStream domain, if any.
	Domain string `json:"domain,omitempty"`
	// Version is the nats-server version.
	Version string `json:"ver"`
}

// hopRequest is what the server saw of the traced message: its headers
// and its size, never its payload.
type hopRequest struct {
	// Header is the traced message's header, with the traceparent of the
	// publisher's span (and Nats-Trace-Hop on a server the message reached
	// through a route, gateway or leaf node).
	Header nats.Header `json:"header,omitempty"`
	// MsgSize is the size of the traced message, headers included.
	MsgSize int `json:"msgsize,omitempty"`
}

// eventHop is one step of a message on one server. Which fields are set depends
// on Type; Timestamp is always set.
type eventHop struct {
	// Type is the kind of step.
	Type hopType `json:"type"`
	// Timestamp is when the server took the step (for the JetStream step:
	// when the stream accepted the message for storage).
	Timestamp time.Time `json:"ts"`

	// Kind is the kind of connection of an ingress or egress.
	Kind hopConnKind `json:"kind"`
	// Name is the connection's name for an ingress or egress: the client's
	// connection name, or the remote server's name for a route, gateway or
	// leaf node.
	Name string `json:"name,omitempty"`
	// Account is the account of an ingress; for a stream export, service
	// import or egress, the account the message went to.
	Account string `json:"acc,omitempty"`
	// Subject is the subject the message was published to (ingress).
	Subject string `json:"subj,omitempty"`
	// To is the subject after a subject mapping, stream export or service
	// import.
	To string `json:"to,omitempty"`
	// From is the subject before a service import.
	From string `json:"from,omitempty"`
	// Stream is the stream that took the message (JetStream).
	Stream string `json:"stream,omitempty"`
	// StreamSubject is the subject the stream stored the message under
	// (JetStream).
	StreamSubject string `json:"subject,omitempty"`
	// NoInterest reports that an interest-based stream skipped the message
	// for lack of consumers (JetStream).
	NoInterest bool `json:"nointerest,omitempty"`
	// HopID is the id set on a message forwarded to another server
	// (egress to a route, gateway or leaf node); that server's event
	// carries it in the Nats-Trace-Hop request header.
	HopID string `json:"hop,omitempty"`
	// Subscription is the subject of the client subscription an egress
	// delivered to.
	Subscription string `json:"sub,omitempty"`
	// Queue is the queue group of that subscription, if any.
	Queue string `json:"queue,omitempty"`
	// Error is why the step failed (the message was not delivered or not
	// stored); "" on success.
	Error string `json:"error,omitempty"`
}

// errMalformedHopEvent is returned (wrapped) by parseHopEvent for data
// that is not a nats-server trace event.
var errMalformedHopEvent = errors.New("tracing: malformed hop event")

// parseHopEvent parses the JSON of one nats-server trace event. It returns
// an error matching errMalformedHopEvent when data is not JSON of that
// shape, names no server, has no hop, does not start with an ingress hop,
// or has a hop of a known type without a timestamp. Hops of types newer
// servers may add are kept (and ignored by [HopCollector]). It never
// panics.
func parseHopEvent(data []byte) (*hopEvent, error) {
	var ev hopEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedHopEvent, err)
	}
	if ev.Server.Name == "" {
		return nil, fmt.Errorf("%w: no server name", errMalformedHopEvent)
	}
	if len(ev.Hops) == 0 {
		return nil, fmt.Errorf("%w: no hops", errMalformedHopEvent)
	}
	if ev.Hops[0].Type != hopTypeIngress {
		return nil, fmt.Errorf("%w: first hop is %q, not ingress", errMalformedHopEvent, ev.Hops[0].Type)
	}
	for i, h := range ev.Hops {
		if h.known() && h.Timestamp.IsZero() {
			return nil, fmt.Errorf("%w: hop %d (%s) has no timestamp", errMalformedHopEvent, i, h.Type)
		}
	}
	return &ev, nil
}

// known reports whether h is of a type this package knows.
func (h *eventHop) known() bool {
	switch h.Type {
	case hopTypeIngress, hopTypeSubjectMapping, hopTypeStreamExport,
		hopTypeServiceImport, hopTypeJetStream, hopTypeEgress:
		return true
	}
	return false
}
