// Package durfmt prints durations for people: the naq CLI's tables and the
// telemetry package's span summary and span printer use the same format.
package durfmt

import (
	"fmt"
	"time"
)

// Compact prints d with about three significant digits: in µs below 1 ms,
// in ms below 1 s, else in s ("850µs", "2.50ms", "12.3ms", "250ms", "1.50s").
func Compact(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
