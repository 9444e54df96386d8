package circuit

import (
	"errors"
	"fmt"
	"time"
)

// ErrOpen is returned (wrapped in an [*OpenError]) when a [Breaker] rejects a
// call because it is open, or because it is half-open and all probe slots are
// taken. Test for it with errors.Is(err, circuit.ErrOpen).
var ErrOpen = errors.New("circuit: open")

// ErrInvalidOption is wrapped by the error [New] returns when an option has a
// value outside its allowed range. The message names the option, the value and
// what is allowed.
var ErrInvalidOption = errors.New("circuit: invalid option")

// OpenError is the error a rejected call gets. It wraps [ErrOpen], so
// errors.Is(err, ErrOpen) holds, and says who rejected the call and for how
// long: a [Breaker] (open, or half-open with every probe slot in use), or
// the connection-health layer of a [Gate] (the connection has been down for
// longer than the gate's grace).
type OpenError struct {
	// Name is the breaker's or the gate's name (see [New], [NewGate]).
	Name string
	// Destination is what the rejected call was for, as the gate names it
	// ("request svc.echo", "kv orders", "connect"); empty for a breaker
	// made with [New].
	Destination string
	// State is [StateOpen], or [StateHalfOpen] when every probe slot was in use.
	State State
	// Remaining is how long the breaker stays open from the moment of the
	// rejection; zero when it rejected in half-open or when the connection
	// is down (it stays down until nats.go reconnects).
	Remaining time.Duration
	// Down is how long the connection had been disconnected when the gate's
	// connection-health layer rejected the call; zero when a breaker
	// rejected it.
	Down time.Duration
}

// Error implements error.
func (e *OpenError) Error() string {
	switch {
	case e.Down > 0:
		return fmt.Sprintf("circuit: open: connection %q is disconnected (for %v); %s fails fast until it reconnects",
			e.Name, e.Down.Round(time.Millisecond), e.Destination)
	case e.State == StateHalfOpen:
		return fmt.Sprintf("circuit: open: breaker %q%s is half-open and all probe calls are in flight", e.Name, e.forDest())
	}
	return fmt.Sprintf("circuit: open: breaker %q%s rejects calls for another %v", e.Name, e.forDest(), e.Remaining)
}

func (e *OpenError) forDest() string {
	if e.Destination == "" {
		return ""
	}
	return " for " + e.Destination
}

// CircuitRejection marks the error as a refusal by a breaker or gate (how
// naq's error.type vocabulary recognises it: circuit_open).
func (e *OpenError) CircuitRejection() {}

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }

// Is reports whether target is [ErrOpen].
func (e *OpenError) Is(target error) bool { return target == ErrOpen }
