package circuit

import "time"

// Outcome flags stored per call in a count window.
const (
	outcomeFailed uint8 = 1 << iota
	outcomeSlow
)

// window is the sliding window of call outcomes a closed breaker evaluates:
// either the last len(ring) calls, or the calls of the last
// len(buckets)*width. It is guarded by the breaker's mutex.
type window struct {
	// Count-based.
	ring []uint8
	next int

	// Time-based.
	buckets []bucket
	width   time.Duration
	start   time.Time

	// Totals of the count window (a time window sums its buckets instead).
	total, failed, slow int
}

type bucket struct {
	epoch               int64
	total, failed, slow int
}

func newWindow(c *config, start time.Time) window {
	if c.timeWindow > 0 {
		width := c.timeWindow / timeWindowBuckets
		if width <= 0 {
			width = 1
		}
		w := window{buckets: make([]bucket, timeWindowBuckets), width: width, start: start}
		w.reset()
		return w
	}
	return window{ring: make([]uint8, c.windowSize)}
}

// add records one outcome at now and returns the window's totals.
func (w *window) add(now time.Time, outcome uint8) (total, failed, slow int) {
	if w.buckets == nil {
		if w.total == len(w.ring) {
			old := w.ring[w.next]
			w.total--
			w.failed -= int(old & outcomeFailed)
			w.slow -= int(old&outcomeSlow) >> 1
		}
		w.ring[w.next] = outcome
		w.next++
		if w.next == len(w.ring) {
			w.next = 0
		}
		w.total++
		w.failed += int(outcome & outcomeFailed)
		w.slow += int(outcome&outcomeSlow) >> 1
		return w.total, w.failed, w.slow
	}
	idx := int64(now.Sub(w.start) / w.width)
	if idx < 0 {
		idx = 0
	}
	n := int64(len(w.buckets))
	b := &w.buckets[idx%n]
	if b.epoch != idx {
		*b = bucket{epoch: idx}
	}
	b.total++
	b.failed += int(outcome & outcomeFailed)
	b.slow += int(outcome&outcomeSlow) >> 1
	for i := range w.buckets {
		if b := &w.buckets[i]; b.epoch > idx-n && b.epoch <= idx {
			total += b.total
			failed += b.failed
			slow += b.slow
		}
	}
	return total, failed, slow
}

// reset forgets every outcome.
func (w *window) reset() {
	if w.buckets == nil {
		clear(w.ring)
		w.next, w.total, w.failed, w.slow = 0, 0, 0, 0
		return
	}
	for i := range w.buckets {
		w.buckets[i] = bucket{epoch: -1 << 62}
	}
}
