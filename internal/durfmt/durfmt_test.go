package durfmt_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/naq-io/naq/internal/durfmt"
)

func TestCompact(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                         "0µs",
		850 * time.Microsecond:    "850µs",
		999_400 * time.Nanosecond: "999µs",
		time.Millisecond:          "1.00ms",
		2500 * time.Microsecond:   "2.50ms",
		12340 * time.Microsecond:  "12.3ms",
		250 * time.Millisecond:    "250ms",
		time.Second:               "1.00s",
		1500 * time.Millisecond:   "1.50s",
		90 * time.Second:          "90.00s",
	} {
		assert.Equal(t, want, durfmt.Compact(d), "%v", int64(d))
	}
}
