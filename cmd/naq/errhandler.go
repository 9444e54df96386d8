package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// repeatWindow is how long an identical telemetry error stays quiet after it
// was printed.
const repeatWindow = 30 * time.Second

// telemetryErrors prints OpenTelemetry's internal errors (an unreachable
// OTLP endpoint, say) to w, once per repeatWindow for the same message, with
// a count of the repeats it held back. The SDK would otherwise log every
// failed export, once a second. Safe for concurrent use.
type telemetryErrors struct {
	w   io.Writer
	now func() time.Time

	mu         sync.Mutex
	last       string
	lastAt     time.Time
	suppressed int
}

func newTelemetryErrors(w io.Writer) *telemetryErrors {
	return &telemetryErrors{w: w, now: time.Now}
}

// Handle implements otel.ErrorHandler.
func (h *telemetryErrors) Handle(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if msg == h.last && now.Sub(h.lastAt) < repeatWindow {
		h.suppressed++
		return
	}
	if h.suppressed > 0 {
		h.printRepeats()
	}
	h.last, h.lastAt, h.suppressed = msg, now, 0
	fmt.Fprintf(h.w, "naq: telemetry: %s\n", msg)
}

// Flush prints the count of held-back repeats, if any (at exit).
func (h *telemetryErrors) Flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.suppressed > 0 {
		h.printRepeats()
		h.suppressed = 0
	}
}

func (h *telemetryErrors) printRepeats() {
	times := "times"
	if h.suppressed == 1 {
		times = "time"
	}
	fmt.Fprintf(h.w, "naq: telemetry: the previous error repeated %d more %s\n", h.suppressed, times)
}
