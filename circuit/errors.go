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
// errors.Is(err, ErrOpen) holds, and carries the breaker name, the state the
// breaker was in when it rejected the call and how long it stays open.
type OpenError struct {
	// Name is the breaker's name (see [New]).
	Name string
	// State is [StateOpen], or [StateHalfOpen] when every probe slot was in use.
	State State
	// Remaining is how long the breaker stays open from the moment of the
	// rejection; zero when it rejected in half-open.
	Remaining time.Duration
}

// Error implements error.
func (e *OpenError) Error() string {
	if e.State == StateHalfOpen {
		return fmt.Sprintf("circuit: open: breaker %q is half-open and all probe calls are in flight", e.Name)
	}
	return fmt.Sprintf("circuit: open: breaker %q rejects calls for another %v", e.Name, e.Remaining)
}

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }

// Is reports whether target is [ErrOpen].
func (e *OpenError) Is(target error) bool { return target == ErrOpen }
