package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTelemetryErrors(t *testing.T) {
	var b strings.Builder
	now := time.Unix(0, 0)
	h := newTelemetryErrors(&b)
	h.now = func() time.Time { return now }

	refused := errors.New("traces export: connection refused")
	h.Handle(refused)
	for range 5 {
		now = now.Add(time.Second)
		h.Handle(refused)
	}
	h.Handle(nil)
	assert.Equal(t, "naq: telemetry: traces export: connection refused\n", b.String(), "repeats are held back")

	now = now.Add(repeatWindow)
	h.Handle(refused)
	assert.Equal(t, "naq: telemetry: traces export: connection refused\n"+
		"naq: telemetry: the previous error repeated 5 more times\n"+
		"naq: telemetry: traces export: connection refused\n", b.String())

	b.Reset()
	h.Handle(errors.New("other"))
	assert.Equal(t, "naq: telemetry: other\n", b.String(), "a different error prints at once")

	b.Reset()
	h.Flush()
	assert.Empty(t, b.String(), "nothing held back")
	h.Handle(errors.New("other"))
	h.Flush()
	assert.Equal(t, "naq: telemetry: the previous error repeated 1 more time\n", b.String())
}
