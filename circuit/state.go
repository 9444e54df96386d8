package circuit

import "strconv"

// State is the state of a [Breaker].
type State int

// The three breaker states. The zero value is StateClosed.
const (
	// StateClosed lets every call through and counts outcomes.
	StateClosed State = iota
	// StateHalfOpen lets a limited number of probe calls through; enough
	// successes close the breaker, any failure opens it again.
	StateHalfOpen
	// StateOpen rejects every call with an error wrapping [ErrOpen] until the
	// open timeout has passed.
	StateOpen
)

// String returns "closed", "half_open" or "open": the values of the state
// attribute on nats.client.circuit.state.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half_open"
	case StateOpen:
		return "open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}
